"""End-to-end tests of the online loop on tiny random models (seconds each)."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from orchestration.buffer import OutcomeBuffer
from orchestration.config import load_config
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer
from reward_model import ScalarRewardModel
from reward_model.trainer import RMTrainer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS, B, K, N = 4, 2, 4, 2  # policy steps, prompts per step, group size, RM update every N steps


def tiny_overrides(policy_dir, encoder_dir, **extra):
    args = {
        "policy.name_or_path": policy_dir, "sampling.max_new_tokens": 8, "grpo.lr": 1e-3,
        "grpo.micro_batch_size": 8, "rm.encoder": encoder_dir, "rm.max_length": 64, "rm.update_every": N,
        "rm.train.epochs": 1, "rm.train.batch_size": 8, "rm.train.progress_bar": False,
        "data.eval_size": 2, "data.eval_samples": 1, "loop.max_steps": STEPS, "loop.prompts_per_step": B,
        "loop.group_size": K, "loop.eval_every": 2, "loop.checkpoint_every": 2, "logging.progress_bar": False,
        "loop.reward_source": "rm", **extra,
    }
    out = []
    for key, value in args.items():
        out += [f"--{key}", json.dumps(value) if not isinstance(value, str) else value]
    return out


@pytest.fixture(scope="module")
def spied_run(tiny_policy_dir, tiny_encoder_dir, tmp_path_factory):
    """One 4-step run with `rm` rewards; records every RM fit and score call in order."""
    events = []
    fit, score = RMTrainer.fit, ScalarRewardModel.score

    def spy_fit(self, records, replay=None):
        events.append(("fit", {(r.prompt, r.response) for r in list(records) + list(replay or [])}))
        return fit(self, records, replay)

    def spy_score(self, prompts, responses, batch_size=32):
        scores = score(self, prompts, responses, batch_size)
        events.append(("score", list(zip(prompts, responses)), scores.tolist()))
        return scores

    out = str(tmp_path_factory.mktemp("run"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RMTrainer, "fit", spy_fit)
        mp.setattr(ScalarRewardModel, "score", spy_score)
        cfg = load_config(None, tiny_overrides(tiny_policy_dir, tiny_encoder_dir))
        trainer = OnlineTrainer(cfg, out)
        trainer.run()
    return trainer, out, events


def test_buffer_rows_rm_versions_and_outputs(spied_run):
    trainer, out, _ = spied_run
    buffer = OutcomeBuffer(os.path.join(out, "outcomes.jsonl"))
    assert len(buffer) == STEPS * B * K
    rows = buffer.read(range(len(buffer)))
    assert [r.step for r in rows] == [s for s in range(1, STEPS + 1) for _ in range(B * K)]
    # Rows are scored by the RM version in force before that step's update: none, none, v1, v1.
    assert [r.rm_version for r in rows[:: B * K]] == [0, 0, 1, 1]
    assert [r.rm_score is None for r in rows[:: B * K]] == [True, True, False, False]
    metrics = read_metrics(os.path.join(out, "metrics.jsonl"))
    assert [m["step"] for m in metrics] == list(range(1, STEPS + 1))  # one row per policy step
    assert [m["rm/version"] for m in metrics] == [0, 1, 1, 2]  # an update every N = 2 steps
    assert all({"verifier/accuracy", "reward/mean", "rm/version"} <= set(m) for m in metrics)
    assert "eval/initial_greedy_accuracy" in metrics[0] and "eval/greedy_accuracy" in metrics[1]
    assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == ["step-000002", "step-000004"]
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(os.path.join(out, "final", "policy"))
    rm = ScalarRewardModel.from_pretrained(os.path.join(out, "final", "rm"))
    torch.testing.assert_close(rm.score(["q"], ["a"]), trainer.rm.score(["q"], ["a"]))


def test_rm_monitor_scores_each_batch_before_the_rm_trains_on_it(spied_run):
    _, out, events = spied_run
    buffer = OutcomeBuffer(os.path.join(out, "outcomes.jsonl"))
    rows = buffer.read(range(len(buffer)))
    for step in (3, 4):  # the steps that have an RM before their update
        batch = [(r.prompt, r.response) for r in rows if r.step == step]
        monitor = next(i for i, e in enumerate(events) if e[0] == "score" and e[1] == batch)
        trained_before = set().union(*[e[1] for e in events[:monitor] if e[0] == "fit"])
        assert trained_before and not (set(batch) & trained_before)
        # and the buffer's held-out rm_score is exactly what that call returned
        assert [r.rm_score for r in rows if r.step == step] == pytest.approx(events[monitor][2])
    metrics = {m["step"]: m for m in read_metrics(os.path.join(out, "metrics.jsonl"))}
    assert "rm/heldout_ranking_accuracy" not in metrics[2] and "rm/heldout_auc" in metrics[3]


def test_reward_source_rm_uses_verifier_until_first_update(spied_run):
    _, out, _ = spied_run
    metrics = {m["step"]: m for m in read_metrics(os.path.join(out, "metrics.jsonl"))}
    assert metrics[1]["reward/mean"] == pytest.approx(metrics[1]["verifier/score_mean"])
    # From step 2 on, rewards are RM scores of the freshly updated RM, not verifier scores.
    events_scored = [metrics[s]["reward/mean"] for s in (2, 3, 4)]
    assert all(not math.isclose(r, metrics[s]["verifier/score_mean"]) for r, s in zip(events_scored, (2, 3, 4)))


def test_reward_source_verifier(tiny_policy_dir, tiny_encoder_dir, tmp_path):
    cfg = load_config(None, tiny_overrides(tiny_policy_dir, tiny_encoder_dir, **{
        "loop.reward_source": "verifier", "loop.max_steps": 2}))
    OnlineTrainer(cfg, str(tmp_path)).run()
    for m in read_metrics(str(tmp_path / "metrics.jsonl")):
        assert m["reward/mean"] == pytest.approx(m["verifier/score_mean"])


def test_reward_source_mix_is_the_default_and_blends(tiny_policy_dir, tiny_encoder_dir, tmp_path):
    args = tiny_overrides(tiny_policy_dir, tiny_encoder_dir, **{"loop.max_steps": 3})
    at = args.index("--loop.reward_source")
    del args[at:at + 2]  # the default
    cfg = load_config(None, args)
    assert cfg.loop.reward_source == "mix" and cfg.loop.mix_weight == 0.5
    OnlineTrainer(cfg, str(tmp_path)).run()
    metrics = {m["step"]: m for m in read_metrics(str(tmp_path / "metrics.jsonl"))}
    assert metrics[1]["reward/mean"] == pytest.approx(metrics[1]["verifier/score_mean"])  # no RM yet
    # Step 3 has no RM update, so its rewards use the scores the monitor logged: 0.5 * RM + 0.5 * verifier.
    assert metrics[3]["reward/mean"] == pytest.approx(
        0.5 * metrics[3]["rm/reward_mean"] + 0.5 * metrics[3]["verifier/score_mean"], abs=1e-6)


def test_non_finite_rewards_skip_the_policy_step(tiny_policy_dir, tiny_encoder_dir, tmp_path, monkeypatch):
    cfg = load_config(None, tiny_overrides(tiny_policy_dir, tiny_encoder_dir, **{"loop.max_steps": 3}))
    trainer = OnlineTrainer(cfg, str(tmp_path))
    assert trainer.train_step()["policy/skipped"] == 0.0  # step 1: verifier rewards (no RM yet)
    after_step_1 = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    monkeypatch.setattr(ScalarRewardModel, "score", lambda self, p, r, batch_size=32: torch.full((len(p),), math.nan))
    metrics = trainer.train_step()  # step 2: the RM is updated, then scores NaN
    assert metrics["policy/skipped"] == 1.0 and math.isnan(metrics["reward/mean"])
    assert all(torch.equal(v, after_step_1[k]) for k, v in trainer.model.state_dict().items())
    # Control: with finite, varied RM scores the same step does move the weights.
    monkeypatch.setattr(ScalarRewardModel, "score", lambda self, p, r, batch_size=32: torch.randn(len(p)))
    assert trainer.train_step()["policy/skipped"] == 0.0
    assert any(not torch.equal(v, after_step_1[k]) for k, v in trainer.model.state_dict().items())


def _cli(out, policy_dir, encoder_dir, **extra):
    return [sys.executable, os.path.join(REPO, "orchestration", "train_loop.py"), "--output-dir", out,
            *tiny_overrides(policy_dir, encoder_dir, **extra)]


def _comparable(path):
    drop = ("timing/", "rm/update/seconds", "rm/update/examples_per_second")
    return [{k: v for k, v in m.items() if not k.startswith(drop)} for m in read_metrics(path)]


def test_sigkill_and_resume_equals_uninterrupted_run(tiny_policy_dir, tiny_encoder_dir, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    full, killed = str(tmp_path / "full"), str(tmp_path / "killed")
    subprocess.run(_cli(full, tiny_policy_dir, tiny_encoder_dir), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(_cli(killed, tiny_policy_dir, tiny_encoder_dir), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    outcomes = os.path.join(killed, "outcomes.jsonl")
    deadline = time.time() + 300
    # Kill mid step 3: after the step-2 checkpoint, once step 3 has written its outcomes.
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(outcomes) and len(OutcomeBuffer(outcomes)) >= 3 * B * K:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert os.path.isdir(os.path.join(killed, "checkpoints", "step-000002"))
    assert not os.path.isdir(os.path.join(killed, "final"))
    result = subprocess.run(_cli(killed, tiny_policy_dir, tiny_encoder_dir), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed from" in result.stdout
    assert open(os.path.join(killed, "outcomes.jsonl")).read() == open(os.path.join(full, "outcomes.jsonl")).read()
    assert _comparable(os.path.join(killed, "metrics.jsonl")) == _comparable(os.path.join(full, "metrics.jsonl"))


def test_bad_config_fails_before_any_model_loads(tmp_path, monkeypatch):
    import policy.model

    monkeypatch.setattr(policy.model, "load_policy", lambda *a, **k: pytest.fail("a model was loaded"))
    from orchestration.train_loop import main

    cases = [
        (["--loop.group_size", "1"], "group_size must be >= 2"),
        (["--loop.prompts_per_step", "3", "--loop.group_size", "3", "--grpo.mini_batch_size", "8"],
         "must be divisible by grpo.mini_batch_size"),
        (["--loop.reward_sorce", "rm"], "did you mean 'loop.reward_source'"),
        (["--sampling.temperature", "0.9"], "grpo.temperature .* must equal sampling.temperature"),
        (["--data.source", "math"], "needs data.path"),
    ]
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        cases.append((["--logging.tensorboard", "true"], "pip install tensorboard"))
    for overrides, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(["--output-dir", str(tmp_path / "x"), *overrides])
        assert re.search(message, str(exc.value)), (overrides, exc.value)
    assert not (tmp_path / "x").exists()


def test_two_process_data_parallel_run(tiny_policy_dir, tiny_encoder_dir, tmp_path):
    """`torchrun --nproc_per_node 2` with ACCELERATE_USE_CPU: each process samples its own prompts, outcomes are
    gathered, the RM trains data-parallel, and only the main process writes files."""
    out = str(tmp_path / "dp")
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           *_cli(out, tiny_policy_dir, tiny_encoder_dir, **{"loop.max_steps": 2})[1:]]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = OutcomeBuffer(os.path.join(out, "outcomes.jsonl"))
    rows = rows.read(range(len(rows)))
    assert len(rows) == 2 * B * K * 2  # steps x prompts x group size x processes
    assert {r.group.split(":")[1] for r in rows} == {"0", "1"}  # both processes' groups, written once
    step1 = [r.task_id for r in rows if r.step == 1]
    assert step1[: B * K] != step1[B * K:]  # the two processes drew different prompts
    metrics = read_metrics(os.path.join(out, "metrics.jsonl"))
    assert [m["step"] for m in metrics] == [1, 2] and metrics[-1]["rm/version"] == 1
    assert os.path.isdir(os.path.join(out, "final", "rm")) and os.path.isdir(os.path.join(out, "checkpoints", "step-000002"))


def test_progress_bar_shows_each_steps_own_figures(tiny_policy_dir, tiny_encoder_dir, tmp_path, capfd):
    cfg = load_config(None, tiny_overrides(tiny_policy_dir, tiny_encoder_dir, **{
        "loop.max_steps": 3, "logging.progress_bar": True}))
    OnlineTrainer(cfg, str(tmp_path)).run()
    rewards = [f"reward={m['reward/mean']:.3f}" for m in read_metrics(str(tmp_path / "metrics.jsonl"))]
    assert len(set(rewards)) == 3  # distinct per step, so a bar lagging one step behind would show
    frames = [f for f in capfd.readouterr().err.split("\r") if f.startswith("GRPO")]
    # tqdm draws when an update finds 0.1 s passed since its last frame, and once more on close. Every frame
    # that shows a reward must show the reward of the step its counter says, not the step before.
    seen = [(int(re.search(r"\| (\d)/3 \[", f).group(1)), re.search(r"reward=[-0-9.]+", f).group(0))
            for f in frames if "reward=" in f]
    assert seen and seen[-1] == (3, rewards[-1])
    assert all(shown == rewards[n - 1] for n, shown in seen), seen
