"""The RM warm start on the tiny models: training prompts only, the buffer's format, a saved RM that `rm.init_from`
loads (and the run records), sampling once, the report by kind; a mismatched `rm.reference` refused."""

import json
import os
import re

import pytest
from transformers.utils import logging as transformers_logging

from orchestration import bootstrap
from orchestration.arithmetic import split_of
from orchestration.buffer import OutcomeBuffer, OutcomeRow
from orchestration.config import load_config
from orchestration.data_sources import build_sources
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer
from reward_model import ScalarRewardModel

PROMPTS, K = 6, 4


def warm_args(tiny_run_args, out, **extra):
    return [
        "--output-dir",
        str(out),
        "--prompts",
        str(PROMPTS),
        "--val-fraction",
        "0.5",
        *tiny_run_args(**{"data.levels": [2], "loop.group_size": K, **extra}),
    ]


def test_warm_start_end_to_end(tiny_run_args, tmp_path, monkeypatch):
    out = tmp_path / "warm"
    transformers_logging.enable_progress_bar()
    report = bootstrap.main(warm_args(tiny_run_args, out))
    assert not transformers_logging.is_progress_bar_enabled()  # no bar per model load in the log, as in the loop's
    cfg = load_config(None, tiny_run_args(**{"data.levels": [2], "loop.group_size": K}))
    train_source, held_out = build_sources(cfg.data, 0)
    items = [train_source.item(i) for i in range(PROMPTS)]
    rows = OutcomeBuffer(str(out / "outcomes.jsonl")).read(range(PROMPTS * K))
    assert len(OutcomeBuffer(str(out / "outcomes.jsonl"))) == PROMPTS * K
    # the loop's buffer format, the gold answer beside each completion, training prompts only
    assert [r.task_id for r in rows] == [item.id for item in items for _ in range(K)]
    assert [r.reference for r in rows] == [item.gold for item in items for _ in range(K)]
    assert all(isinstance(r.truncated, bool) and r.step == 0 for r in rows)
    assert all(split_of(bootstrap.problem_key(item), cfg.data.eval_fraction) == "train" for item in items)
    assert report["outcomes"] == PROMPTS * K and report["rm"]["fit_rows"] + report["rm"]["report_rows"] == PROMPTS * K
    assert report["rm"]["report_rows"] > 0 and report["rm"]["fit_rows"] > 0
    assert set(report["heldout"]) >= {"ranking_accuracy", "interval", "n_pairs", "by_kind", "baselines"}
    assert json.loads((out / "bootstrap.json").read_text())["outcomes"] == PROMPTS * K
    rm = ScalarRewardModel.from_pretrained(str(out / "rm"))
    assert rm.origin["source"] == "bootstrap" and rm.origin["outcomes"] == report["rm"]["fit_rows"]
    # a second run samples nothing: the policy is never loaded, the buffer is unchanged
    monkeypatch.setattr("policy.model.load_policy", lambda *a, **k: pytest.fail("sampled again"))
    again = bootstrap.main(warm_args(tiny_run_args, out, **{"logging.progress_bar": False}))
    assert again["outcomes"] == PROMPTS * K
    monkeypatch.undo()
    # the loop starts from it, both the online RM and the frozen control, and records so
    run_dir = tmp_path / "run"
    run_cfg = load_config(
        None, tiny_run_args(**{"rm.init_from": str(out / "rm"), "loop.max_steps": 2, "loop.eval_every": 100})
    )
    OnlineTrainer(run_cfg, str(run_dir)).run()
    assert all(m["rm/warm_started"] == 1.0 for m in read_metrics(str(run_dir / "metrics.jsonl")))
    for saved in ("rm", "rm_frozen"):
        origin = json.loads((run_dir / "final" / saved / "reward_model.json").read_text())["origin"]
        assert origin["source"] == "init_from" and origin["init_from"] == os.path.abspath(out / "rm")
        assert origin["saved_origin"]["source"] == "bootstrap" and len(origin["weights_sha256"]) == 64


def test_a_fresh_rm_run_records_no_warm_start(tiny_run_args, tmp_path):
    cfg = load_config(None, tiny_run_args(**{"loop.max_steps": 2, "loop.eval_every": 100}))
    OnlineTrainer(cfg, str(tmp_path)).run()
    assert [m["rm/warm_started"] for m in read_metrics(str(tmp_path / "metrics.jsonl"))] == [0.0, 0.0]
    origin = json.loads((tmp_path / "final" / "rm" / "reward_model.json").read_text())["origin"]
    assert origin["source"] == "fresh" and origin["first_fit_rows"] > 0


def test_reference_aware_warm_start_and_a_mismatched_loop(tiny_run_args, tmp_path):
    out = tmp_path / "warm"
    bootstrap.main(warm_args(tiny_run_args, out, **{"rm.reference": True}))
    assert ScalarRewardModel.from_pretrained(str(out / "rm")).reference is True
    ok = load_config(
        None,
        tiny_run_args(
            **{"rm.init_from": str(out / "rm"), "rm.reference": True, "loop.max_steps": 1, "loop.eval_every": 100}
        ),
    )
    OnlineTrainer(ok, str(tmp_path / "ok")).run()  # scores with each prompt's gold answer
    bad = load_config(None, tiny_run_args(**{"rm.init_from": str(out / "rm"), "loop.max_steps": 1}))
    with pytest.raises(
        ValueError,
        match=r"reads the gold answer \(reference-aware\) .* but rm.reference is false: "
        r"set rm.reference true",
    ):
        OnlineTrainer(bad, str(tmp_path / "bad"))


def test_held_out_prompts_are_refused(tiny_run_args):
    cfg = load_config(None, tiny_run_args(**{"data.levels": [2]}))
    train_source, held_out = build_sources(cfg.data, 0)
    bootstrap.check_training_only([train_source.item(i) for i in range(50)], held_out, cfg.data)
    with pytest.raises(AssertionError, match=rf"{re.escape(held_out[1].id)} belongs to the held-out split"):
        bootstrap.check_training_only([train_source.item(0), held_out[1]], held_out, cfg.data)


def test_problem_key_drops_the_phrasing():
    from orchestration.tasks import TaskItem

    worded = TaskItem("arith-2:9-7-worded", "What is 9 minus 7?", "math", "2", meta={"phrasing": "worded"})
    assert bootstrap.problem_key(worded) == "2:9-7"
    assert bootstrap.problem_key(TaskItem("arith-2:9-7", "What is 9 - 7?", "math", "2", meta={})) == "2:9-7"
    assert bootstrap.problem_key(TaskItem("gsm8k-12", "q", "math", "2")) == "gsm8k-12"


def _row(group, response, correct, truncated=False):
    return OutcomeRow(
        step=0,
        task_id="t",
        group=group,
        prompt="What is 9 * 7?",
        response=response,
        outcome=float(correct),
        correct=correct,
        reason="correct" if correct else "wrong_answer",
        verifier="math",
        reference="63",
        truncated=truncated,
    )


def test_ranking_report_by_kind():
    rows = [
        _row("g", "\\boxed{63}", True),
        _row("g", "\\boxed{64}", False),
        _row("g", "9 * 7 is 9 sevens, so we add 7 and", False, truncated=True),
        _row("h", "It is 63.", True),
        _row("h", "\\boxed{16}", False),
    ]
    # scores: the near miss beats the correct answer; the truncated and the other-operation answers do not
    report = bootstrap.ranking_report([1.0, 2.0, 0.0, 1.0, 0.0], rows)
    assert report["n_pairs"] == 3 and report["ranking_accuracy"] == pytest.approx(2 / 3)
    assert {k: (v["ranking_accuracy"], v["n_pairs"]) for k, v in report["by_kind"].items()} == {
        "near_miss": (0.0, 1),
        "truncated": (1.0, 1),
        "other_operation": (1.0, 1),
    }
    # shorter is better: a tie on g's near miss (both 10 characters), right on the truncated one and on h
    assert report["baselines"]["shorter_is_better"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert report["baselines"]["not_truncated_is_better"] == pytest.approx((0.5 + 1 + 0.5) / 3)
