"""benchmarks/reverify_outcomes.py: the gold it reads for a stored completion, and the judge -> compare round trip
on hand-made rows (the verifier run in this process both times, so the two sides must agree)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "reverify_outcomes.py"
spec = importlib.util.spec_from_file_location("benchmarks.reverify_outcomes", PATH)
reverify = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reverify)


@pytest.mark.parametrize(
    "row, gold",
    [
        ({"reference": "12", "task_id": "arith-1:3+4"}, "12"),  # the row's own reference wins
        ({"task_id": "arith-1:3+4"}, "7"),
        ({"task_id": "arith-2:12-15"}, "-3"),
        ({"task_id": "arith-3:6*7"}, "42"),
        ({"task_id": "gsm8k-17"}, None),  # nothing to read a gold from: the row is left out
    ],
)
def test_gold_of_a_row(row, gold):
    assert reverify.gold_of(row) == gold


def test_judge_then_compare(tmp_path, monkeypatch, capsys):
    rows = [
        {"task_id": "arith-1:3+4", "verifier": "math", "response": "3 + 4 = 7. \\boxed{7}", "truncated": False},
        {"task_id": "arith-1:3+4", "verifier": "math", "response": "The answer is \\boxed{8}.", "truncated": False},
        {"task_id": "gsm8k-1", "verifier": "math", "response": "\\boxed{1}"},  # no gold: left out
        {"task_id": "code-1", "verifier": "code", "response": "def f(): pass"},  # not math: left out
    ]
    outcomes = tmp_path / "outcomes.jsonl"
    outcomes.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("old", "new"):
        monkeypatch.setattr(sys, "argv", ["x", "judge", str(outcomes), "--output", str(tmp_path / f"{name}.jsonl")])
        reverify.main()
    judged = [json.loads(line) for line in (tmp_path / "new.jsonl").read_text().splitlines()]
    assert [(r["row"], r["gold"], r["correct"]) for r in judged] == [(0, "7", True), (1, "7", False)]
    monkeypatch.setattr(sys, "argv", ["x", "compare", str(tmp_path / "old.jsonl"), str(tmp_path / "new.jsonl")])
    reverify.main()
    out = capsys.readouterr().out
    assert "rows judged by both: 2" in out and "same verdict: 2 (1.0000)" in out
    assert "wrong -> correct: 0; correct -> wrong: 0" in out
