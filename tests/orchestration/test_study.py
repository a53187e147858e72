"""The built-in study: intervals by hand, aggregation, and a tiny end-to-end study that resumes."""

import json
import math
import os

import pytest

from orchestration.study import ARMS
from orchestration.study_report import aggregate, interval


def test_interval_hand_computed():
    # mean 2, sample sd 1, t(0.975, df=2) = 4.302653: half-width 4.302653 / sqrt(3) = 2.484138
    cell = interval([1.0, 2.0, 3.0])
    assert cell["mean"] == 2.0 and cell["n"] == 3
    assert cell["high"] - cell["mean"] == pytest.approx(2.484138, abs=1e-6)
    assert cell["mean"] - cell["low"] == pytest.approx(2.484138, abs=1e-6)
    one = interval([0.5, math.nan, None])  # NaN and missing values dropped; one value has no interval
    assert one["mean"] == 0.5 and one["n"] == 1 and math.isnan(one["low"])
    assert interval([])["n"] == 0


def _run(before, after, rm, alarms=0, seconds=60.0):
    return {"before_greedy": before, "before_sampled": before, "after_greedy": after, "after_sampled": after,
            "rm_heldout": rm, "rm_frozen_heldout": [None, 0.5, 0.5], "alarms": alarms, "seconds": seconds,
            "train_accuracy": [0.5, 0.6, 0.7]}


def test_aggregate_takes_before_from_the_seed_and_changes_per_seed():
    runs = {("a", 0): _run(0.4, 0.6, [None, 1.0, 0.5]), ("b", 0): _run(None, 0.5, [None, None, None], alarms=2),
            ("a", 1): _run(None, 0.8, [None, 0.25, 0.25]), ("b", 1): _run(0.6, 0.7, [None, None, None])}
    table = aggregate(runs, ["a", "b"], [0, 1])
    # seed 0's base policy comes from arm a, seed 1's from arm b: both arms share them
    assert table["a"]["before_greedy"]["mean"] == table["b"]["before_greedy"]["mean"] == pytest.approx(0.5)
    assert table["a"]["change_greedy"]["mean"] == pytest.approx(((0.6 - 0.4) + (0.8 - 0.6)) / 2)
    assert table["b"]["change_sampled"]["mean"] == pytest.approx(((0.5 - 0.4) + (0.7 - 0.6)) / 2)
    assert table["a"]["rm_heldout"]["mean"] == pytest.approx((0.75 + 0.25) / 2)  # per-run means, then over seeds
    assert table["b"]["rm_heldout"]["n"] == 0 and table["b"]["alarms"] == 2
    assert table["a"]["minutes"]["mean"] == pytest.approx(1.0)


def test_every_arm_has_a_description_and_valid_overrides():
    from orchestration.config import load_config
    from orchestration.study import DEFAULTS

    assert {"verifier", "rm", "frozen_rm", "mix", "online_rft", "rft"} <= set(ARMS)
    for arm, (text, overrides) in ARMS.items():
        assert text and load_config(None, [*DEFAULTS, *overrides]).loop.max_steps == 16, arm


def test_tiny_study_end_to_end_and_resumable(tiny_policy_dir, tiny_encoder_dir, tmp_path):
    from orchestration.study import main

    out = str(tmp_path / "study")
    tiny = ["--policy.name_or_path", tiny_policy_dir, "--rm.encoder", tiny_encoder_dir, "--sampling.max_new_tokens",
            "8", "--rm.max_length", "64", "--rm.train.epochs", "1", "--data.eval_size", "3",
            "--loop.max_steps", "2", "--loop.prompts_per_step", "2", "--loop.group_size", "4", "--rm.update_every", "1"]
    argv = ["--arms", "verifier", "frozen_rm", "--seeds", "0", "1", "--output-dir", out, "--no-progress", *tiny]
    results = main(argv)
    assert sorted(os.listdir(os.path.join(out, "runs"))) == ["frozen_rm-seed0", "frozen_rm-seed1",
                                                             "verifier-seed0", "verifier-seed1"]
    # The base policy is evaluated once per seed: in the first arm run for it.
    initial = {name: any("eval/initial_greedy_accuracy" in json.loads(line) for line in
                         open(os.path.join(out, "runs", name, "metrics.jsonl")))
               for name in os.listdir(os.path.join(out, "runs"))}
    assert initial == {"verifier-seed0": True, "verifier-seed1": True, "frozen_rm-seed0": False,
                       "frozen_rm-seed1": False}
    table = results["arms"]
    assert table["verifier"]["after_greedy"]["n"] == 2 and table["frozen_rm"]["before_greedy"]["n"] == 2
    # RM version 1 (trained after step 1) is the frozen RM: it scores step 2 (NaN when the tiny policy's
    # batch holds no right-and-wrong pair), and the frozen monitor shows the same figure.
    for seed in (0, 1):
        rows = [json.loads(line) for line in open(os.path.join(out, "runs", f"frozen_rm-seed{seed}", "metrics.jsonl"))]
        assert "rm/heldout_pairs" not in rows[0] and "rm_frozen/heldout_pairs" not in rows[0]
        assert rows[1]["rm/heldout_pairs"] == rows[1]["rm_frozen/heldout_pairs"]
        assert rows[1]["rm/heldout_auc"] == rows[1]["rm_frozen/heldout_auc"]  # None in JSON when NaN
    report = open(os.path.join(out, "report.md")).read()
    assert "| `verifier` | 2 |" in report and "| `frozen_rm` | 2 |" in report and "python -m orchestration.study" in report
    assert sorted(os.listdir(os.path.join(out, "plots"))) == ["rm_heldout.png", "train_accuracy.png"]
    kept = set(os.listdir(os.path.join(out, "runs", "verifier-seed0")))  # logs kept, models deleted
    assert {"metrics.jsonl", "outcomes.jsonl", "config.yaml", "log.txt", "study_run.json"} <= kept
    assert not kept & {"checkpoints", "final"}
    # Re-running the command re-runs nothing (the metrics files are untouched) and rewrites the report.
    mtimes = {name: os.path.getmtime(os.path.join(out, "runs", name, "metrics.jsonl")) for name in initial}
    again = main(argv)
    assert again["arms"]["verifier"]["after_greedy"] == table["verifier"]["after_greedy"]
    assert all(os.path.getmtime(os.path.join(out, "runs", name, "metrics.jsonl")) == t for name, t in mtimes.items())
