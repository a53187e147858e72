"""How the training samples' steps changed over a run: the rule checker on every stored completion.

    python benchmarks/step_accuracy.py benchmarks/process_supervision/runs/*-seed*

For each run directory, from its outcome buffer (`outcomes.jsonl`), over the first and the last `--window` steps:
verified accuracy, the share of steps `verifiers.math.check_steps` can judge, and the share of those that hold.
Outcome-supervised runs store no step labels, so every run's completions are judged here the same way (the task's
`substitute` is not in the buffer: level-4 equations would count as unverifiable; the built-in levels 1-3 have none).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from orchestration.buffer import OutcomeBuffer  # noqa: E402
from verifiers.math import check_steps  # noqa: E402


def window_figures(rows) -> dict[str, float]:
    verdicts = [s.verdict for r in rows for s in check_steps(r.response)]
    judged = [v for v in verdicts if v != "unverifiable"]
    return {"accuracy": sum(r.correct for r in rows) / max(len(rows), 1),
            "verifiable_steps": len(judged) / max(len(verdicts), 1),
            "true_of_verifiable": judged.count("true") / max(len(judged), 1)}


def run_figures(path: str, window: int) -> dict:
    buffer = OutcomeBuffer(os.path.join(path, "outcomes.jsonl"))
    rows = buffer.read(range(len(buffer)))
    last = max(r.step for r in rows)
    return {"run": os.path.basename(path.rstrip("/")),
            "first": window_figures([r for r in rows if r.step <= window]),
            "last": window_figures([r for r in rows if r.step > last - window])}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories")
    parser.add_argument("--window", type=int, default=2, help="steps at each end")
    args = parser.parse_args(argv)
    results = [run_figures(path, args.window) for path in args.runs]
    print(f"{'run':<16} {'accuracy first→last':>22} {'verifiable first→last':>24} {'true first→last':>18}")
    for r in results:
        f, last = r["first"], r["last"]
        print(f"{r['run']:<16} {f['accuracy']:>10.3f} → {last['accuracy']:<9.3f} {f['verifiable_steps']:>11.3f} → "
              f"{last['verifiable_steps']:<10.3f} {f['true_of_verifiable']:>7.3f} → {last['true_of_verifiable']:.3f}")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
