"""The loop's RM pieces of issue 21: hard negatives counted in an update, the fit's own figures, the gold answer and
truncation in the buffer, reward variance per term, and a reference-aware RM refusing prompts without a gold."""

import json
import random

import pytest
import torch

from orchestration.buffer import OutcomeBuffer, OutcomeRow
from orchestration.config import load_config
from orchestration.hard_negatives import hard_negative_pairs
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer
from orchestration.online_rm import outcome_records
from orchestration.reward_terms import within_group_std


def test_within_group_std_by_hand():
    # group 1: 1, 0, 1, 0 -> mean 1/2, unbiased variance 4 * (1/4) / 3 = 1/3, std 0.57735; group 2 constant: 0
    values = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    assert within_group_std(values, 4) == pytest.approx((1 / 3) ** 0.5 / 2)
    assert within_group_std(torch.tensor([0.2, 0.2, 0.9, 0.9]), 2) == 0.0  # spread across groups is no signal


def _rows(n_groups: int) -> list[OutcomeRow]:
    rows = []
    for g in range(n_groups):
        a, b = 3 + g, 4
        gold = str(a * b)
        for k, response in enumerate(
            [f"{a} * {b} = {gold}. \\boxed{{{gold}}}", f"\\boxed{{{a * b + 1}}}", f"It is {gold}.", "I do not know"]
        ):
            correct = k in (0, 2)
            rows.append(
                OutcomeRow(
                    step=1,
                    task_id=f"t{g}",
                    group=f"1:0:{g}",
                    prompt=f"What is {a} * {b}?",
                    response=response,
                    outcome=float(correct),
                    correct=correct,
                    reason="correct" if correct else "wrong_answer",
                    verifier="math",
                    reference=gold,
                    truncated=False,
                )
            )
    return rows


def test_update_trains_hard_negatives_and_reports_its_own_fit(tiny_run_args, tmp_path):
    cfg = load_config(None, tiny_run_args(**{"rm.hard_negatives": 2}))
    trainer = OnlineTrainer(cfg, str(tmp_path))
    rows = _rows(3)
    trainer.buffer.append(rows)
    metrics = trainer._update_rm()
    expected, kinds = hard_negative_pairs(outcome_records(rows), 2, random.Random(f"{cfg.loop.seed}:hard-negatives:0"))
    assert metrics["rm/update/hard_negatives"] == len(expected) == 12  # 2 correct completions x 3 groups x 2
    assert sum(v for k, v in metrics.items() if k.startswith("rm/update/hard_negatives_")) == 12
    assert {
        k.removeprefix("rm/update/hard_negatives_") for k in metrics if k.startswith("rm/update/hard_negatives_")
    } == set(kinds)
    assert metrics["rm/update/constant_loss"] == pytest.approx(0.693147, abs=1e-6)  # half correct: H(1/2)
    for key in ("train_loss", "train_ranking_accuracy", "train_accuracy", "train_pair_accuracy"):
        assert 0.0 <= metrics[f"rm/update/{key}"] < 10.0


def test_a_fit_refuses_an_old_buffer_without_references_for_a_reference_aware_rm(tiny_run_args, tmp_path):
    cfg = load_config(None, tiny_run_args(**{"rm.reference": True}))
    trainer = OnlineTrainer(cfg, str(tmp_path))
    old = [OutcomeRow(**{**row.__dict__, "reference": None}) for row in _rows(1)]
    trainer.buffer.append(old)
    with pytest.raises(ValueError, match="reference-aware .* 4 of 4 records have no reference"):
        trainer._update_rm()


def test_old_buffer_rows_load_without_the_new_columns(tmp_path):
    path = tmp_path / "outcomes.jsonl"
    path.write_text(
        json.dumps(
            {
                "step": 1,
                "task_id": "t",
                "group": "g",
                "prompt": "p",
                "response": "r",
                "outcome": 1.0,
                "correct": True,
                "reason": "correct",
                "verifier": "math",
            }
        )
        + "\n"
    )
    (row,) = OutcomeBuffer(str(path)).read([0])
    assert row.reference is None and row.truncated is None


def test_run_writes_gold_and_truncation_and_reward_spread(tiny_run_args, tmp_path):
    cfg = load_config(None, tiny_run_args(**{"loop.max_steps": 3, "loop.eval_every": 100}))
    OnlineTrainer(cfg, str(tmp_path)).run()
    rows = OutcomeBuffer(str(tmp_path / "outcomes.jsonl")).read(range(3 * 2 * 4))
    assert all(r.reference and isinstance(r.truncated, bool) for r in rows)
    metrics = read_metrics(str(tmp_path / "metrics.jsonl"))
    for m in metrics:
        step_rewards = torch.tensor([r.reward for r in rows if r.step == m["step"]])
        assert m["reward/within_group_std"] == pytest.approx(within_group_std(step_rewards, 4), abs=1e-6)
        assert {"reward/within_group_std/rm", "reward/within_group_std/format"} <= set(m)
    # once the RM rewards (step 3), the rm term's spread is the RM scores' spread within each group
    scores = torch.tensor([r.rm_score for r in rows if r.step == 3])
    assert metrics[2]["reward/within_group_std/rm"] == pytest.approx(within_group_std(scores, 4), abs=1e-6)


def test_reference_aware_rm_stops_on_a_prompt_without_gold(tiny_run_args, tmp_path):
    data = tmp_path / "math.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "prompt": f"What is {i} + 1?", "answer": None if i % 2 else str(i + 1)}) + "\n"
            for i in range(20)
        )
    )
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "data.source": "math",
                "data.path": str(data),
                "data.unlabelled": True,
                "rm.reference": True,
                "loop.initial_eval": False,
            }
        ),
    )
    with pytest.raises(ValueError, match=r"rm.reference is true .* but task q\d+ has none .* set rm.reference false"):
        OnlineTrainer(cfg, str(tmp_path / "run")).run()
