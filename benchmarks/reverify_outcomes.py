"""Re-judge the completions a run stored (its `outcomes.jsonl`) with the math verifier importable now, to see what a
verifier change does to real policy text. Run it once per verifier version (e.g. from a worktree at an older commit,
with PYTHONPATH pointing there) on the same files, then compare the two outputs:

    PYTHONPATH=/tmp/old python benchmarks/reverify_outcomes.py judge RUN/outcomes.jsonl ... --output old.jsonl
    python benchmarks/reverify_outcomes.py judge RUN/outcomes.jsonl ... --output new.jsonl
    python benchmarks/reverify_outcomes.py compare old.jsonl new.jsonl

Every row is judged as the loop judges it (`verifiers.math.check_batch`, the last-number fallback on, `complete`
from the row's `truncated` flag where it has one, else false); the gold answer is the row's `reference`, or for
built-in arithmetic rows written before that column existed, the answer its task id names (`arith-1:3+4`:
`orchestration.scarce_labels.withheld_gold`). `compare` prints how often the two agree, each direction of
disagreement, verifier errors on each side, and the rows that changed, so a person can read which verdict is right.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def gold_of(row: dict) -> str | None:
    from orchestration.scarce_labels import withheld_gold

    return row.get("reference") or withheld_gold(row.get("task_id", ""))


def judge(args) -> None:
    from verifiers import math as math_verifier

    rows = []
    for path in args.outcomes:
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f):
                row = json.loads(line)
                if row.get("verifier") == "math" and gold_of(row) is not None:
                    rows.append((path, i, row))
    outcomes = math_verifier.check_batch(
        [row["response"] for _, _, row in rows],
        [gold_of(row) for _, _, row in rows],
        timeout=args.timeout,
        fallback_last_number=True,
        complete=[row.get("truncated") is False for _, _, row in rows],
    )
    with open(args.output, "w", encoding="utf-8") as f:
        for (path, i, row), outcome in zip(rows, outcomes):
            judged = {"file": path, "row": i, "gold": gold_of(row), "response": row["response"]}
            judged.update(correct=outcome.correct, reason=outcome.reason, error=outcome.is_error)
            f.write(json.dumps(judged) + "\n")
    print(f"{len(rows)} rows judged by {math_verifier.__file__} -> {args.output}")


def compare(args) -> None:
    def load(path):
        with open(path, encoding="utf-8") as f:
            return {(r["file"], r["row"]): r for r in map(json.loads, f)}

    old, new = load(args.old), load(args.new)
    keys = sorted(old.keys() & new.keys())
    up = [k for k in keys if not old[k]["correct"] and new[k]["correct"]]
    down = [k for k in keys if old[k]["correct"] and not new[k]["correct"]]
    print(
        f"rows judged by both: {len(keys)} (only old: {len(old.keys() - new.keys())}, "
        f"only new: {len(new.keys() - old.keys())})"
    )
    print(f"same verdict: {len(keys) - len(up) - len(down)} ({1 - (len(up) + len(down)) / max(len(keys), 1):.4f})")
    print(f"wrong -> correct: {len(up)}; correct -> wrong: {len(down)}")
    print(f"verifier errors: old {sum(old[k]['error'] for k in keys)}, new {sum(new[k]['error'] for k in keys)}")
    for title, changed in (("wrong -> correct", up), ("correct -> wrong", down)):
        for k in changed[: args.show]:
            print(
                f"\n[{title}] gold {new[k]['gold']!r}; old {old[k]['reason']}, new {new[k]['reason']}\n"
                f"  {new[k]['response'][-300:]!r}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("judge", help="judge the rows of outcomes.jsonl files with the importable verifier")
    p.add_argument("outcomes", nargs="+")
    p.add_argument("--output", required=True)
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(run=judge)
    p = sub.add_parser("compare", help="compare two judge outputs")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--show", type=int, default=10, help="changed rows to print per direction")
    p.set_defaults(run=compare)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
