"""Reward terms and DAPO's dynamic sampling (refill rounds) in loop runs on the tiny models."""

import pytest
import torch

from orchestration.buffer import OutcomeBuffer
from orchestration.config import load_config
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer
from policy.update import GRPOUpdater
from verifiers import Outcome

B, K = 2, 4  # tiny_run_args: prompts per step, group size


def read_rows(run_dir):
    buffer = OutcomeBuffer(str(run_dir / "outcomes.jsonl"))
    return buffer.read(range(len(buffer)))


def brevity(prompts, completions, completion_ids, task_id, **kwargs):
    """A user term: TRL's signature, with our columns."""
    assert len(prompts) == len(completions) == len(completion_ids) == len(task_id)
    return [1.0 / (1 + len(ids)) for ids in completion_ids]


def test_a_loop_run_with_every_reward_term(tiny_run_args, tmp_path):
    terms = (
        "[{name: rm, weight: 0.5}, {name: verifier, weight: 0.5}, {name: format, weight: 0.1}, "
        "{name: length, weight: 0.3, buffer: 4}, {name: repetition, weight: 0.2, ngram: 1}, "
        f"{{name: {__name__}.brevity, weight: 0.4}}]"
    )
    cfg = load_config(
        None, tiny_run_args(**{"loop.reward_source": None, "loop.max_steps": 3}) + ["--loop.reward_terms", terms]
    )
    assert cfg.loop.source == "mix"
    OnlineTrainer(cfg, str(tmp_path)).run()
    weights = {term.name: term.weight for term in cfg.loop.terms}
    rows = read_metrics(str(tmp_path / "metrics.jsonl"))
    for m in rows:  # the reward is the weighted sum of the logged terms (means are linear)
        assert m["reward/mean"] == pytest.approx(sum(w * m[f"reward/{name}"] for name, w in weights.items()), abs=1e-5)
        assert -1.0 <= m["reward/length"] <= 0.0 and -1.0 <= m["reward/repetition"] <= 0.0
        assert m["reward/verifier"] == pytest.approx(m["verifier/score_mean"])
    # 8-token completions with a 4-token buffer: the length term punishes every cut-off completion fully
    assert rows[0]["reward/length"] <= -rows[0]["completion/truncated_fraction"]
    assert rows[0]["reward/rm"] == pytest.approx(rows[0]["reward/verifier"])  # no RM before the first update
    assert rows[2]["reward/rm"] == pytest.approx(rows[2]["rm/reward_mean"])
    stored = read_rows(tmp_path)
    assert len(stored) == 3 * B * K and all(-2.0 < row.reward < 2.0 for row in stored)


def fake_verify(signal_per_round):
    """Outcomes by sampling round: round r's first `signal_per_round[r]` groups are mixed, the rest all wrong."""
    calls = []

    def verify(self, items, rollouts):
        signal = signal_per_round[len(calls)]
        calls.append(len(items))
        return [
            Outcome(i // K < signal and i % 2 == 0, float(i // K < signal and i % 2 == 0), "x")
            for i in range(len(items))
        ]

    return verify


@pytest.mark.parametrize(
    "refill_rounds, signal_per_round, rounds_used, trained_groups",
    [
        (3, [0, 1, 2, 2], 2, [2, 4]),  # 0 + 1 + 2 groups with a signal after two rounds: the first two of them
        (1, [0, 1, 2], 1, [0, 2]),  # the cap: one refill finds one such group; a uniform one (masked) fills the batch
        (2, [2, 2, 2], 0, [0, 1]),  # the first batch is full of signal: no refill
    ],
)
def test_refill_rounds_sample_until_the_batch_has_signal(
    tiny_run_args, tmp_path, monkeypatch, refill_rounds, signal_per_round, rounds_used, trained_groups
):
    seen = []
    step = GRPOUpdater.step
    monkeypatch.setattr(
        GRPOUpdater,
        "step",
        lambda self, rollouts, advantages: (seen.append((rollouts, advantages)), step(self, rollouts, advantages))[1],
    )
    monkeypatch.setattr(OnlineTrainer, "_verify", fake_verify(signal_per_round))
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "loop.reward_source": "verifier",
                "loop.drop_uniform_groups": True,
                "loop.refill_rounds": refill_rounds,
                "loop.initial_eval": False,
            }
        ),
    )
    trainer = OnlineTrainer(cfg, str(tmp_path))
    metrics = trainer.train_step()
    sampled = (rounds_used + 1) * B
    assert metrics["loop/refill_rounds"] == rounds_used
    assert trainer.state.data_position == sampled  # the refill prompts are fresh ones
    assert metrics["loop/uniform_groups_dropped"] == pytest.approx(
        1 - sum(signal_per_round[: rounds_used + 1]) / sampled
    )
    stored = read_rows(tmp_path)
    assert len(stored) == sampled * K  # every round's outcomes are kept (they train the RM)
    ((rollouts, advantages),) = seen
    assert len(rollouts) == B * K  # the update always sees B groups
    expected = [stored[g * K + j].response for g in trained_groups for j in range(K)]
    assert rollouts.texts == expected
    for slot, group in enumerate(trained_groups):  # groups without a signal stay masked out of the loss
        has_signal = group % B < signal_per_round[group // B]
        rows = rollouts.completion_mask[slot * K : (slot + 1) * K]
        assert bool(rows.any()) == has_signal
        assert bool(advantages[slot * K : (slot + 1) * K].abs().sum() > 0) == has_signal


def test_refill_rounds_log_into_a_whole_run(tiny_run_args, tmp_path):
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "loop.reward_source": "rm",
                "loop.drop_uniform_groups": True,
                "loop.refill_rounds": 1,
                "loop.max_steps": 3,
            }
        ),
    )
    OnlineTrainer(cfg, str(tmp_path)).run()
    rows = read_metrics(str(tmp_path / "metrics.jsonl"))
    # The tiny policy is always wrong: until the RM exists every group is uniform, so each step refills once.
    assert [m["loop/refill_rounds"] for m in rows[:2]] == [1.0, 1.0]
    assert [m["loop/uniform_groups_dropped"] for m in rows[:2]] == [1.0, 1.0]
    assert len(read_rows(tmp_path)) == sum((1 + m["loop/refill_rounds"]) * B * K for m in rows)
    assert torch.isfinite(torch.tensor([m["reward/mean"] for m in rows])).all()


def test_report_to_wandb_offline_logs_every_step(tiny_run_args, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from orchestration.train_loop import main

    monkeypatch.setenv("WANDB_MODE", "offline")  # no network, no account
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    main(["--output-dir", str(out), *tiny_run_args(**{"loop.max_steps": 2}), "--logging.report_to", "[wandb]"])
    runs = list((out / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    data = runs[0].read_bytes()
    for key in (b"reward/mean", b"verifier/accuracy", b"eval/greedy_accuracy", b"loop.group_size"):
        assert key in data, key  # every step's metrics and the resolved config reached the tracker
    assert len(read_metrics(str(out / "metrics.jsonl"))) == 2  # and metrics.jsonl as always
