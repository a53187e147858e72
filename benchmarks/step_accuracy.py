"""How the training samples' steps changed over a run: the rule checker on every stored completion.

    python benchmarks/step_accuracy.py benchmarks/process_supervision/runs/*-seed*

For each run directory, from its outcome buffer (`outcomes.jsonl`), over the first and the last `--window` steps:
verified accuracy, steps (lines) per completion, the share of steps `verifiers.math.check_steps` can judge, the
share of those that hold, and the share of steps whose claims all repeat an earlier step's
(`verifiers.steps.repeated_claims`: the way the gamed GRPO+PS runs earned step reward).
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
from verifiers.steps import mark_repeats  # noqa: E402


def window_figures(rows) -> dict[str, float]:
    steps = [mark_repeats(check_steps(r.response), r.response) for r in rows]
    verdicts = [s.verdict for judged in steps for s in judged]
    judged = [v for v in verdicts if v != "unverifiable"]
    return {
        "accuracy": sum(r.correct for r in rows) / max(len(rows), 1),
        "steps_per_completion": len(verdicts) / max(len(rows), 1),
        "verifiable_steps": len(judged) / max(len(verdicts), 1),
        "true_of_verifiable": judged.count("true") / max(len(judged), 1),
        "repeated_steps": sum(s.repeated for judged in steps for s in judged) / max(len(verdicts), 1),
    }


def run_figures(path: str, window: int) -> dict:
    buffer = OutcomeBuffer(os.path.join(path, "outcomes.jsonl"))
    rows = buffer.read(range(len(buffer)))
    last = max(r.step for r in rows)
    return {
        "run": os.path.basename(path.rstrip("/")),
        "first": window_figures([r for r in rows if r.step <= window]),
        "last": window_figures([r for r in rows if r.step > last - window]),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories")
    parser.add_argument("--window", type=int, default=2, help="steps at each end")
    args = parser.parse_args(argv)
    results = [run_figures(path, args.window) for path in args.runs]
    names = [
        ("accuracy", "accuracy"),
        ("steps_per_completion", "steps"),
        ("verifiable_steps", "verifiable"),
        ("true_of_verifiable", "true"),
        ("repeated_steps", "repeated"),
    ]
    print(f"{'run':<18}" + "".join(f" {label + ' first→last':>24}" for _, label in names))
    for r in results:
        print(f"{r['run']:<18}" + "".join(f" {r['first'][key]:>13.3f} → {r['last'][key]:<7.3f}" for key, _ in names))
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
