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
from orchestration.preflight import VerifierUnavailable
from reward_model import ScalarRewardModel
from reward_model.trainer import RMTrainer
from verifiers import Outcome

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What tiny_run_args (tests/orchestration/conftest.py) sets: policy steps, prompts per step, group size, RM
# update every N steps.
STEPS, B, K, N = 4, 2, 4, 2


@pytest.fixture(scope="module")
def spied_run(tiny_run_args, tmp_path_factory):
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
        cfg = load_config(None, tiny_run_args())
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
    # Each row records its reward: the verifier's during warm-up, then (reward_source rm) the RM's [0, 1] score.
    assert all(r.reward == r.outcome for r in rows if r.step <= 2)
    assert all(r.reward == pytest.approx(r.rm_score) and 0.0 < r.reward < 1.0 for r in rows if r.step > 2)
    metrics = read_metrics(os.path.join(out, "metrics.jsonl"))
    assert [m["step"] for m in metrics] == list(range(1, STEPS + 1))  # one row per policy step
    assert [m["rm/version"] for m in metrics] == [0, 0, 1, 1]  # the version that scored the step
    assert trainer.state.rm_version == 2  # an update every N = 2 steps, after the step's rewards
    # The frozen snapshot is version 1; while the live RM is still version 1 both judge alike.
    for m in metrics[2:]:
        assert (
            m["rm_frozen/heldout_auc"] == m["rm/heldout_auc"] and m["rm_frozen/heldout_pairs"] == m["rm/heldout_pairs"]
        )
    assert not any(key.startswith("rm_frozen/") for key in metrics[1])
    assert all({"verifier/accuracy", "reward/mean", "rm/version"} <= set(m) for m in metrics)
    assert "eval/initial_greedy_accuracy" in metrics[0] and "eval/greedy_accuracy" in metrics[1]
    assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == ["step-000002", "step-000004"]
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(os.path.join(out, "final", "policy"))
    rm = ScalarRewardModel.from_pretrained(os.path.join(out, "final", "rm"))
    torch.testing.assert_close(rm.score(["q"], ["a"]), trainer.rm.model.score(["q"], ["a"]))


def test_rm_monitor_scores_each_batch_before_the_rm_trains_on_it(spied_run):
    _, out, events = spied_run
    buffer = OutcomeBuffer(os.path.join(out, "outcomes.jsonl"))
    rows = buffer.read(range(len(buffer)))
    for step in (3, 4):  # the steps that have an RM before their update
        batch = [(r.prompt, r.response) for r in rows if r.step == step]
        monitor = next(i for i, e in enumerate(events) if e[0] == "score" and e[1] == batch)
        trained_before = set().union(*[e[1] for e in events[:monitor] if e[0] == "fit"])
        assert trained_before and not (set(batch) & trained_before)
        # and the buffer's held-out rm_score is what that call returned, on the [0, 1] scale (bce: sigmoid)
        assert [r.rm_score for r in rows if r.step == step] == pytest.approx(
            torch.sigmoid(torch.tensor(events[monitor][2])).tolist()
        )
    metrics = {m["step"]: m for m in read_metrics(os.path.join(out, "metrics.jsonl"))}
    assert "rm/heldout_ranking_accuracy" not in metrics[2] and "rm/heldout_auc" in metrics[3]


def test_reward_source_rm_uses_verifier_until_first_update(spied_run):
    _, out, _ = spied_run
    metrics = {m["step"]: m for m in read_metrics(os.path.join(out, "metrics.jsonl"))}
    # Steps 1-2 have no RM yet (the first update comes after step 2's rewards): verifier rewards.
    for step in (1, 2):
        assert metrics[step]["reward/mean"] == pytest.approx(metrics[step]["verifier/score_mean"])
    # From step 3 on, rewards are the held-out scores of RM version 1, not verifier scores.
    for step in (3, 4):
        assert metrics[step]["reward/mean"] == pytest.approx(metrics[step]["rm/reward_mean"])
        assert not math.isclose(metrics[step]["reward/mean"], metrics[step]["verifier/score_mean"])


def test_reward_source_verifier(tiny_run_args, tmp_path):
    cfg = load_config(None, tiny_run_args(**{"loop.reward_source": "verifier", "loop.max_steps": 2}))
    OnlineTrainer(cfg, str(tmp_path)).run()
    for m in read_metrics(str(tmp_path / "metrics.jsonl")):
        assert m["reward/mean"] == pytest.approx(m["verifier/score_mean"])


def test_reward_source_mix_is_the_default_and_blends(tiny_run_args, tmp_path):
    args = tiny_run_args(**{"loop.max_steps": 3})
    at = args.index("--loop.reward_source")
    del args[at : at + 2]  # the default
    cfg = load_config(None, args)
    assert (cfg.loop.reward_source, cfg.loop.mix_weight, cfg.loop.format_weight) == ("mix", 0.5, 0.1)
    OnlineTrainer(cfg, str(tmp_path)).run()
    metrics = {m["step"]: m for m in read_metrics(str(tmp_path / "metrics.jsonl"))}
    # no RM yet: the rm term reads the verifier
    assert metrics[1]["reward/mean"] == pytest.approx(
        metrics[1]["verifier/score_mean"] + 0.1 * metrics[1]["reward/format"]
    )
    # Step 3 has no RM update, so its rewards use the scores the monitor logged: 0.5 * RM + 0.5 * verifier + 0.1 *
    # format (the tiny model's answers never box, so the format term is 0 here; tests/orchestration/test_reward_terms.py
    # checks its values).
    assert metrics[3]["reward/mean"] == pytest.approx(
        0.5 * metrics[3]["rm/reward_mean"]
        + 0.5 * metrics[3]["verifier/score_mean"]
        + 0.1 * metrics[3]["reward/format"],
        abs=1e-6,
    )


def test_non_finite_rewards_skip_the_policy_step(tiny_run_args, tmp_path, monkeypatch):
    cfg = load_config(None, tiny_run_args())
    trainer = OnlineTrainer(cfg, str(tmp_path))
    for _ in range(2):  # verifier rewards (no RM yet); the RM's first update follows step 2
        assert trainer.train_step()["policy/skipped"] == 0.0
    after_step_2 = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    monkeypatch.setattr(ScalarRewardModel, "score", lambda self, p, r, batch_size=32: torch.full((len(p),), math.nan))
    metrics = trainer.train_step()  # step 3: the RM scores NaN
    assert metrics["policy/skipped"] == 1.0 and math.isnan(metrics["reward/mean"])
    assert all(torch.equal(v, after_step_2[k]) for k, v in trainer.model.state_dict().items())
    # Control: with finite, varied RM scores the same step does move the weights.
    monkeypatch.setattr(ScalarRewardModel, "score", lambda self, p, r, batch_size=32: torch.randn(len(p)))
    assert trainer.train_step()["policy/skipped"] == 0.0
    assert any(not torch.equal(v, after_step_2[k]) for k, v in trainer.model.state_dict().items())


def _cli(out, args):
    return [sys.executable, os.path.join(REPO, "orchestration", "train_loop.py"), "--output-dir", out, *args]


def _comparable(path):
    drop = ("timing/", "rm/update/seconds", "rm/update/examples_per_second")
    return [{k: v for k, v in m.items() if not k.startswith(drop)} for m in read_metrics(path)]


def test_sigkill_and_resume_equals_uninterrupted_run(tiny_run_args, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    full, killed = str(tmp_path / "full"), str(tmp_path / "killed")
    subprocess.run(_cli(full, tiny_run_args()), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(
        _cli(killed, tiny_run_args()), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
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
    result = subprocess.run(_cli(killed, tiny_run_args()), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed from" in result.stdout
    assert open(os.path.join(killed, "outcomes.jsonl")).read() == open(os.path.join(full, "outcomes.jsonl")).read()
    assert _comparable(os.path.join(killed, "metrics.jsonl")) == _comparable(os.path.join(full, "metrics.jsonl"))


def test_one_seed_repeats_exactly_and_two_seeds_differ(tiny_run_args, tmp_path):
    """--loop.seed reaches everything a run draws: the mini-batch shuffling and the RM's fits follow it (they
    stayed 0 in every run once), the same seed repeats a run bit for bit, another seed gives another run."""
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        cfg = load_config(
            None,
            tiny_run_args(
                **{
                    "loop.max_steps": 2,
                    "rm.update_every": 1,
                    "grpo.mini_batch_size": 4,
                    "grpo.micro_batch_size": 4,
                    "loop.seed": seed,
                }
            ),
        )
        trainer = OnlineTrainer(cfg, str(tmp_path / name))
        trainer.run()
        assert trainer.updater.cfg.seed == seed and trainer.rm.trainer.cfg.seed == seed
        runs[name] = (
            _comparable(str(tmp_path / name / "metrics.jsonl")),
            open(tmp_path / name / "outcomes.jsonl").read(),
            {k: v.clone() for k, v in trainer.model.state_dict().items()},
        )
    (metrics_a, outcomes_a, weights_a), (metrics_b, outcomes_b, weights_b), (_, outcomes_c, weights_c) = (
        runs["a"],
        runs["b"],
        runs["c"],
    )
    assert metrics_a == metrics_b and outcomes_a == outcomes_b
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert outcomes_a != outcomes_c
    assert any(not torch.equal(weights_a[k], weights_c[k]) for k in weights_a)


def test_bad_config_fails_before_any_model_loads(tmp_path, monkeypatch):
    import policy.model

    monkeypatch.setattr(policy.model, "load_policy", lambda *a, **k: pytest.fail("a model was loaded"))
    from orchestration.train_loop import main

    cases = [
        (["--loop.group_size", "1"], "group_size must be >= 2"),
        (
            ["--loop.prompts_per_step", "3", "--loop.group_size", "3", "--grpo.mini_batch_size", "8"],
            "must be divisible by grpo.mini_batch_size",
        ),
        (["--loop.reward_sorce", "rm"], "did you mean 'loop.reward_source'"),
        (
            ["--sampling.temperature", "0.9", "--grpo.temperature", "0.7"],
            "grpo.temperature .* must equal sampling.temperature",
        ),
        (["--data.source", "math"], "needs data.path"),
    ]
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        cases.append((["--logging.report_to", "[tensorboard]"], "needs its package: pip install tensorboard"))
    cases.append((["--logging.report_to", "[neptune]"], "unknown tracker"))
    for overrides, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(["--output-dir", str(tmp_path / "x"), *overrides])
        assert re.search(message, str(exc.value)), (overrides, exc.value)
    assert not (tmp_path / "x").exists()


def test_fsdp_stops_the_loop_before_anything_loads(tiny_run_args, tmp_path, monkeypatch):
    """An FSDP-sharded policy cannot sample as the loop does (README "What runs across processes"): a clear error
    before any model loads or any file is written, not a hang at the first generation."""
    from types import SimpleNamespace

    from accelerate.utils import DistributedType

    import policy.model

    monkeypatch.setattr(policy.model, "load_policy", lambda *a, **k: pytest.fail("a model was loaded"))
    fsdp = SimpleNamespace(distributed_type=DistributedType.FSDP, is_main_process=True)
    with pytest.raises(ValueError, match="does not run under FSDP.*Launch with data parallel"):
        OnlineTrainer(load_config(None, tiny_run_args()), str(tmp_path / "x"), accelerator=fsdp)
    import accelerate

    from orchestration.train_loop import main

    monkeypatch.setattr(accelerate, "Accelerator", lambda *a, **k: fsdp)
    with pytest.raises(SystemExit, match="stopped: the online loop does not run under FSDP"):
        main(["--output-dir", str(tmp_path / "x"), *tiny_run_args()])
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_two_process_data_parallel_run(tiny_run_args, tmp_path, lora):
    """`torchrun --nproc_per_node 2` with ACCELERATE_USE_CPU: each process samples its own prompts, outcomes are
    gathered, the RM trains data-parallel, and only the main process writes files. With LoRA on the policy and
    the RM, DDP wraps the peft model and the reference forward disables the adapters inside it."""
    if lora:
        pytest.importorskip("peft")
    out = str(tmp_path / "dp")
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    # An RM update after every step: from step 2 on, the RM's continuous scores reward every group, so distinct
    # completions get distinct rewards and the policy moves whatever the tiny model's answers were (the
    # verifier alone, during step 1's warm-up, rewards a random model's answers all alike).
    extra = {"policy.lora": {"r": 2}, "rm.lora": {"r": 2}} if lora else {}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(29533 + lora),
        *_cli(out, tiny_run_args(**{"loop.max_steps": 3, "rm.update_every": 1, "loop.checkpoint_every": 2}, **extra))[
            1:
        ],
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = OutcomeBuffer(os.path.join(out, "outcomes.jsonl"))
    rows = rows.read(range(len(rows)))
    assert len(rows) == 3 * B * K * 2  # steps x prompts x group size x processes
    assert {r.group.split(":")[1] for r in rows} == {"0", "1"}  # both processes' groups, written once
    step1 = [r.task_id for r in rows if r.step == 1]
    assert step1[: B * K] != step1[B * K :]  # the two processes drew different prompts
    step2 = [r for r in rows if r.step == 2]
    assert {r.rm_version for r in step2} == {1}
    groups = {group: {r.reward for r in step2 if r.group == group} for group in {r.group for r in step2}}
    assert all(len(rewards) > 1 for rewards in groups.values()), groups  # every group carried a signal
    metrics = read_metrics(os.path.join(out, "metrics.jsonl"))
    assert [m["step"] for m in metrics] == [1, 2, 3] and metrics[-1]["rm/updated"] == 1.0
    assert os.path.isdir(os.path.join(out, "final", "rm")) and os.path.isdir(
        os.path.join(out, "checkpoints", "step-000002")
    )
    assert metrics[-1]["policy/kl"] > 0  # step 2 moved the policy away from its reference
    if lora:
        assert os.path.isdir(os.path.join(out, "final", "policy_adapter"))
        assert ScalarRewardModel.from_pretrained(os.path.join(out, "final", "rm")).lora["r"] == 2


def test_progress_bar_shows_each_steps_own_figures(tiny_run_args, tmp_path, capfd):
    cfg = load_config(
        None, tiny_run_args(**{"loop.max_steps": 3, "logging.progress_bar": True, "rm.update_every": 1})
    )  # RM rewards from step 2
    OnlineTrainer(cfg, str(tmp_path)).run()
    rewards = [f"reward={m['reward/mean']:.3f}" for m in read_metrics(str(tmp_path / "metrics.jsonl"))]
    assert len(set(rewards)) == 3  # distinct per step, so a bar lagging one step behind would show
    frames = [f for f in capfd.readouterr().err.split("\r") if f.startswith("GRPO")]
    # tqdm draws when an update finds 0.1 s passed since its last frame, and once more on close. Every frame
    # that shows a reward must show the reward of the step its counter says, not the step before.
    seen = [
        (int(re.search(r"\| (\d)/3 \[", f).group(1)), re.search(r"reward=[-0-9.]+", f).group(0))
        for f in frames
        if "reward=" in f
    ]
    assert seen and seen[-1] == (3, rewards[-1])
    assert all(shown == rewards[n - 1] for n, shown in seen), seen


def _break_math_verifier(monkeypatch, from_call: int, broken_share: float):
    """From its `from_call`-th call on, the math verifier reports an internal error for `broken_share` of a batch."""
    import verifiers.math

    real, calls = verifiers.math.check_batch, []

    def flaky(responses, golds, **kwargs):
        calls.append(len(responses))
        outcomes = real(responses, golds, **kwargs)
        if len(calls) < from_call:
            return outcomes
        n_broken = round(broken_share * len(outcomes))
        return [Outcome(False, 0.0, "internal_error: RuntimeError: worker died") for _ in range(n_broken)] + outcomes[
            n_broken:
        ]

    monkeypatch.setattr(verifiers.math, "check_batch", flaky)
    return calls


def test_start_up_check_fails_before_any_model_loads(tiny_run_args, tmp_path, monkeypatch):
    import orchestration.policy_slot

    monkeypatch.setattr(orchestration.policy_slot, "load_policy", lambda *a, **k: pytest.fail("a model was loaded"))
    _break_math_verifier(monkeypatch, from_call=1, broken_share=1.0)
    cfg = load_config(None, tiny_run_args())
    with pytest.raises(VerifierUnavailable, match="math verifier failed its start-up check"):
        OnlineTrainer(cfg, str(tmp_path))


def test_some_verifier_errors_are_counted_and_kept_out_of_rm_training(tiny_run_args, tmp_path, monkeypatch, capsys):
    fitted = []
    fit = RMTrainer.fit
    monkeypatch.setattr(
        RMTrainer,
        "fit",
        lambda self, records, replay=None: (
            fitted.append(len(records) + len(replay or [])),
            fit(self, records, replay),
        )[1],
    )
    cfg = load_config(None, tiny_run_args(**{"loop.max_steps": 2}))
    trainer = OnlineTrainer(cfg, str(tmp_path))  # the start-up check runs on the real verifier
    # One in four outcomes of each training step breaks (the held-out evaluation batches too).
    _break_math_verifier(monkeypatch, from_call=1, broken_share=0.25)
    trainer.run()
    metrics = read_metrics(str(tmp_path / "metrics.jsonl"))
    assert [m["verifier/errors"] for m in metrics] == [B * K / 4] * 2
    assert [m["verifier/error_fraction"] for m in metrics] == [0.25] * 2
    assert (
        "verifier errors in 2/8 outcomes; first: internal_error: RuntimeError: worker died" in capsys.readouterr().out
    )
    rows = OutcomeBuffer(str(tmp_path / "outcomes.jsonl"))
    assert len(rows) == 2 * B * K  # nothing lost: error rows stay in the buffer ...
    assert fitted == [2 * B * K * 3 // 4]  # ... but the RM never trains on them


def test_too_many_verifier_errors_stop_with_a_checkpoint_then_resume(tiny_run_args, tmp_path, monkeypatch):
    args = tiny_run_args(**{"loop.checkpoint_every": 10, "loop.eval_every": 10})
    trainer = OnlineTrainer(load_config(None, args), str(tmp_path))
    with monkeypatch.context() as mp:
        # Calls: initial evaluation (greedy, sampled), step 1, step 2, then step 3 breaks for 3/4 of its batch.
        _break_math_verifier(mp, from_call=5, broken_share=0.75)
        with pytest.raises(VerifierUnavailable) as stop:
            trainer.run()
    message = str(stop.value)
    assert "step 3: 6 of 8 outcomes are verifier errors" in message
    assert "loop.max_verifier_error_fraction=0.5" in message and "re-run the same command to resume" in message
    assert "checkpoint of step 2" in message
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["step-000002"]
    assert [m["step"] for m in read_metrics(str(tmp_path / "metrics.jsonl"))] == [1, 2]
    assert len(OutcomeBuffer(str(tmp_path / "outcomes.jsonl"))) == 2 * B * K  # step 3 wrote nothing
    # The verifier is fixed: the same command resumes at step 3 and finishes, with no row written twice.
    resumed = OnlineTrainer(load_config(None, args), str(tmp_path))
    assert resumed.state.step == 2
    resumed.run()
    assert [m["step"] for m in read_metrics(str(tmp_path / "metrics.jsonl"))] == [1, 2, 3, 4]
    rows = OutcomeBuffer(str(tmp_path / "outcomes.jsonl"))
    assert [r.step for r in rows.read(range(len(rows)))] == [s for s in range(1, STEPS + 1) for _ in range(B * K)]


@pytest.mark.parametrize("algorithm", ["online_rft", "rft"])
def test_rft_algorithms_learn_from_verified_correct_completions_only(algorithm, tiny_run_args, tmp_path, monkeypatch):
    import orchestration.online
    from policy.update import GRPOUpdater

    seen = []
    step, sample = GRPOUpdater.step, orchestration.online.sample_groups
    monkeypatch.setattr(
        GRPOUpdater,
        "step",
        lambda self, rollouts, advantages: (
            seen.append(("advantages", advantages.clone())),
            step(self, rollouts, advantages),
        )[1],
    )
    monkeypatch.setattr(
        orchestration.online,
        "sample_groups",
        lambda model, *a, **k: (seen.append(("sampler", model)), sample(model, *a, **k))[1],
    )
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "loop.algorithm": algorithm,
                "loop.reward_source": "verifier",
                "loop.max_steps": 2,
                "loop.eval_every": 10,
            }
        ),
    )
    trainer = OnlineTrainer(cfg, str(tmp_path))
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    rows = OutcomeBuffer(str(tmp_path / "outcomes.jsonl"))
    rows = rows.read(range(len(rows)))
    advantages = [a for kind, a in seen if kind == "advantages"]
    # Coefficient 1 on verified-correct completions, 0 on the rest: no group normalisation, no negative signal.
    for step_number, adv in zip((1, 2), advantages):
        assert adv.tolist() == [float(r.correct) for r in rows if r.step == step_number]
    samplers = [model for kind, model in seen if kind == "sampler"][2:4]  # after the initial evaluation's two
    if algorithm == "rft":  # training samples come from the frozen initial policy (the KL reference) ...
        assert all(model is trainer.reference for model in samplers)
        assert all(torch.equal(v, initial[k]) for k, v in trainer.reference.state_dict().items())
    else:  # ... or from the policy being trained
        assert all(model is trainer.model for model in samplers)


def test_algorithm_config_errors(tmp_path):
    with pytest.raises(ValueError, match="algorithm=online_rft learns from verified-correct completions only"):
        load_config(None, ["--loop.algorithm", "online_rft", "--loop.reward_source", "rm"])
    with pytest.raises(ValueError, match="reset_reference_on_rm_update must be false"):
        load_config(
            None,
            [
                "--loop.algorithm",
                "rft",
                "--loop.reward_source",
                "verifier",
                "--loop.reset_reference_on_rm_update",
                "true",
            ],
        )


def test_reset_reference_on_rm_update_and_resume_after_a_reset(tiny_run_args, tmp_path):
    extra = {"loop.reset_reference_on_rm_update": True, "loop.reward_source": "mix"}
    trainer = OnlineTrainer(load_config(None, tiny_run_args(**extra)), str(tmp_path / "steps"))
    initial = {k: v.clone() for k, v in trainer.reference.state_dict().items()}
    trainer.train_step()  # no RM update: the reference is still the initial policy
    assert all(torch.equal(v, initial[k]) for k, v in trainer.reference.state_dict().items())
    trainer.train_step()  # the RM updates after this step's policy update: the reference becomes the policy
    policy_at_2 = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert trainer.state.reference_reset
    assert all(torch.equal(v, policy_at_2[k]) for k, v in trainer.reference.state_dict().items())
    trainer.train_step()  # the policy moves on, the reference stays where the reset put it
    assert all(torch.equal(v, policy_at_2[k]) for k, v in trainer.reference.state_dict().items())
    assert any(not torch.equal(v, policy_at_2[k]) for k, v in trainer.model.state_dict().items())
    # Resuming after a reset (from the step-2 checkpoint, which holds reference/) continues exactly.
    full, resumed = str(tmp_path / "full"), str(tmp_path / "resumed")
    OnlineTrainer(load_config(None, tiny_run_args(**extra)), full).run()
    OnlineTrainer(
        load_config(None, tiny_run_args(**{**extra, "loop.max_steps": 3, "loop.checkpoint_every": 2})), resumed
    ).run()
    assert os.path.isdir(os.path.join(resumed, "checkpoints", "step-000002", "reference"))
    OnlineTrainer(load_config(None, tiny_run_args(**extra)), resumed).run()
    assert open(os.path.join(resumed, "outcomes.jsonl")).read() == open(os.path.join(full, "outcomes.jsonl")).read()
    # (the shorter run also evaluated at its last step, 3: held-out figures aside, every row is the same)
    without_eval = [
        [{k: v for k, v in row.items() if not k.startswith("eval/")} for row in _comparable(path)]
        for path in (os.path.join(resumed, "metrics.jsonl"), os.path.join(full, "metrics.jsonl"))
    ]
    assert without_eval[0] == without_eval[1]


def test_unlabelled_prompts_are_rewarded_by_the_rm_alone_and_never_train_it(
    tiny_run_args, tiny_encoder_dir, tmp_path, monkeypatch
):
    data = tmp_path / "data.jsonl"
    rows = [
        {"question": f"What is {i} + 1?", "answer": str(i + 1)} if i % 2 else {"question": f"Tell a story {i}."}
        for i in range(40)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rm_dir = str(tmp_path / "rm")
    ScalarRewardModel.from_encoder(tiny_encoder_dir, max_length=64, seed=0).save_pretrained(rm_dir)
    fitted = []
    fit = RMTrainer.fit
    monkeypatch.setattr(
        RMTrainer,
        "fit",
        lambda self, records, replay=None: (
            fitted.extend(r.prompt for r in list(records) + list(replay or [])),
            fit(self, records, replay),
        )[1],
    )
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "data.source": "math",
                "data.path": str(data),
                "data.unlabelled": True,
                "data.eval_fraction": 0.3,
                "rm.init_from": rm_dir,
                "loop.max_steps": 2,
                "loop.reward_source": "verifier",
            }
        ),
    )
    trainer = OnlineTrainer(cfg, str(tmp_path / "run"))
    assert trainer.eval_items and all(item.verifier == "math" for item in trainer.eval_items)
    trainer.run()
    buffer = OutcomeBuffer(str(tmp_path / "run" / "outcomes.jsonl"))
    rows = buffer.read(range(len(buffer)))
    unlabelled = [r for r in rows if r.verifier == "none"]
    assert unlabelled and all(r.reason == "unlabelled" for r in unlabelled)
    assert all(r.reward == pytest.approx(r.rm_score) for r in unlabelled)  # the RM alone, even under `verifier`
    assert all(r.reward == r.outcome for r in rows if r.verifier == "math")
    assert fitted and not {r.prompt for r in unlabelled} & set(fitted)  # never RM training data
    for m in read_metrics(str(tmp_path / "run" / "metrics.jsonl")):
        step_rows = [r for r in rows if r.step == m["step"]]
        judged = [r for r in step_rows if r.verifier == "math"]
        assert m.get("reward/unlabelled_count", 0) == len(step_rows) - len(judged)
        if judged:  # accuracy is over the prompts a rule judged
            assert m["verifier/accuracy"] == sum(r.correct for r in judged) / len(judged)
        else:
            assert "verifier/accuracy" not in m


def test_loop_with_truncated_completions_masked(tiny_run_args, tmp_path):
    cfg = load_config(None, tiny_run_args(**{"grpo.mask_truncated_completions": True, "loop.max_steps": 2}))
    OnlineTrainer(cfg, str(tmp_path)).run()
    for m in read_metrics(str(tmp_path / "metrics.jsonl")):  # the tiny policy's 8-token completions: mostly cut
        assert m["policy/truncated_masked"] == pytest.approx(m["completion/truncated_fraction"] * B * K)


def test_drop_uniform_groups_masks_groups_without_a_signal(tiny_run_args, tmp_path, monkeypatch):
    from policy.update import GRPOUpdater

    seen = []
    step = GRPOUpdater.step
    monkeypatch.setattr(
        GRPOUpdater,
        "step",
        lambda self, rollouts, advantages: (
            seen.append((rollouts.completion_mask.clone(), advantages.clone())),
            step(self, rollouts, advantages),
        )[1],
    )
    cfg = load_config(
        None, tiny_run_args(**{"loop.drop_uniform_groups": True, "loop.reward_source": "mix", "loop.max_steps": 3})
    )
    trainer = OnlineTrainer(cfg, str(tmp_path))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    first = trainer.train_step()  # verifier rewards (no RM yet) and an always-wrong tiny policy: all uniform
    assert first["loop/uniform_groups_dropped"] == 1.0 and first["policy/skipped"] == 1.0
    assert seen == [] and all(torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items())
    trainer.train_step()
    metrics = trainer.train_step()  # step 3: RM scores differ within groups, so the groups carry a signal
    assert metrics["loop/uniform_groups_dropped"] == 0.0 and seen[-1][0].any()
    # A batch with some uniform groups: those rows are masked, the others untouched.
    rewards = torch.tensor([0.0] * K + [float(i) for i in range(K)])
    rollouts = trainer._sample(trainer._next_items(), K, cfg.sampling, seed=0)
    masked = trainer._drop_uniform_groups(rollouts, rewards)
    assert trainer._signal_groups(rewards).tolist() == [False, True] and masked.completion_mask[:K].sum() == 0
    assert torch.equal(masked.completion_mask[K:], rollouts.completion_mask[K:])
