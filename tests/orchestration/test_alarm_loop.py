"""The reward-hacking alarm, proven on a loop run: a planted RM that rewards length while the (planted) rule
prefers short answers makes the policy exploit it, and the alarm fires; a sound RM keeps it quiet."""

import pytest

from orchestration.config import load_config
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer
from reward_model import ScalarRewardModel
from verifiers import Outcome

MAX_TOKENS = 8  # the tiny policy's tokens are characters


def _short_is_right(responses, golds, **kwargs):
    """The planted rule: an answer of at most 3 characters is right (a stand-in for a task brevity solves)."""
    return [
        Outcome(len(r) <= 3, float(len(r) <= 3), "correct" if len(r) <= 3 else "wrong_answer: long") for r in responses
    ]


def _run(tiny_policy_dir, tiny_encoder_dir, tmp_path, monkeypatch, prefers_long: bool):
    import verifiers.math

    rm_dir = str(tmp_path / "rm")
    ScalarRewardModel.from_encoder(tiny_encoder_dir, max_length=64, seed=0).save_pretrained(rm_dir)
    monkeypatch.setattr(
        ScalarRewardModel,
        "reward",
        lambda self, prompts, responses, batch_size=32: __import__("torch").tensor(
            [
                min(len(r), MAX_TOKENS) / MAX_TOKENS if prefers_long else 1 - min(len(r), MAX_TOKENS) / MAX_TOKENS
                for r in responses
            ]
        ),
    )
    args = {
        "policy.name_or_path": tiny_policy_dir,
        "rm.init_from": rm_dir,
        "rm.update_every": 1000,
        "sampling.max_new_tokens": MAX_TOKENS,
        "grpo.lr": 3e-3,
        "grpo.beta": 0.0,
        "loop.reward_source": "rm",
        "loop.max_steps": 12,
        "loop.prompts_per_step": 4,
        "loop.group_size": 8,
        "loop.hacking_window": 8,
        "loop.eval_every": 1000,
        "loop.initial_eval": False,
        "loop.checkpoint_every": 1000,
        "data.eval_size": 1,
        "data.eval_samples": 1,
        "logging.progress_bar": False,
    }
    overrides = [
        item
        for key, value in args.items()
        for item in (f"--{key}", str(value).lower() if isinstance(value, bool) else str(value))
    ]
    trainer = OnlineTrainer(load_config(None, overrides), str(tmp_path / "run"))  # start-up checks: the real rule
    monkeypatch.setattr(verifiers.math, "check_batch", _short_is_right)
    trainer.run()
    return read_metrics(str(tmp_path / "run" / "metrics.jsonl"))


def _halves(metrics, key):
    values = [m[key] for m in metrics]
    return sum(values[:4]) / 4, sum(values[-4:]) / 4


@pytest.mark.parametrize("prefers_long", [True, False], ids=["rm_rewards_length", "sound_rm"])
def test_alarm_fires_on_a_hacked_rm_and_stays_quiet_on_a_sound_one(
    prefers_long, tiny_policy_dir, tiny_encoder_dir, tmp_path, monkeypatch
):
    metrics = _run(tiny_policy_dir, tiny_encoder_dir, tmp_path, monkeypatch, prefers_long)
    reward_before, reward_after = _halves(metrics, "rm/reward_mean")
    accuracy_before, accuracy_after = _halves(metrics, "verifier/accuracy")
    assert reward_after > reward_before  # the policy learns what the RM rewards, either way
    alarms = [m["step"] for m in metrics if m.get("rm/hacking_alarm")]
    if prefers_long:  # ... which here costs verified accuracy: the alarm must say so
        assert accuracy_after < accuracy_before and alarms, (accuracy_before, accuracy_after)
    else:
        assert accuracy_after > accuracy_before and not alarms


SCARCE = ["--data.labelled_problems", "8", "--data.unlabelled", "true"]


@pytest.mark.parametrize(
    "overrides, watched",
    [
        (["--loop.reward_source", "rm"], 0.9),
        (["--loop.reward_source", "mix"], 0.9),
        (["--loop.reward_source", "frozen_rm"], 0.2),  # the frozen RM's reward, not the live monitor's
        (["--loop.reward_source", "verifier"], None),  # no RM rewards this run: nothing it could be hacking
        (["--loop.algorithm", "online_rft"], None),
        (["--loop.reward_terms", "[{name: verifier}, {name: rm, weight: 0.0}]"], None),  # logged only
        # scarce labels: the RM rewards only the prompts without an answer, so the alarm watches their reward
        ([*SCARCE, "--loop.reward_source", "verifier", "--loop.unlabelled_reward", "frozen_rm"], 0.6),
        ([*SCARCE, "--loop.reward_source", "verifier"], 0.6),
        ([*SCARCE, "--loop.reward_source", "verifier", "--loop.unlabelled_reward", "none"], None),
    ],
)
def test_the_alarm_watches_only_the_rm_that_rewards(overrides, watched):
    from types import SimpleNamespace

    metrics = {"reward/rm": 0.9, "reward/frozen_rm": 0.2, "rm/reward_mean": 0.9, "verifier/accuracy": 0.5}
    metrics["reward/unlabelled_mean"] = 0.6
    trainer = SimpleNamespace(cfg=load_config(None, overrides))
    assert OnlineTrainer._rm_reward(trainer, metrics) == watched
    unjudged = {key: value for key, value in metrics.items() if key != "verifier/accuracy"}
    assert OnlineTrainer._rm_reward(trainer, unjudged) is None  # no rule judged the batch: nothing to compare
