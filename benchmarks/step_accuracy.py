"""How the training samples' steps changed over a run: the rule checker on every stored completion.

    python benchmarks/step_accuracy.py benchmarks/process_supervision/runs/*-seed*

For each run directory, over the first and the last `--window` steps: `orchestration.step_stats` (verified
accuracy, steps per completion, the share of steps the rule checker can judge, the share of those that hold, the
share of repeated steps). The study's report shows the same for runs on the multi-step task.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from orchestration.step_stats import run_step_figures, window_figures  # noqa: E402, F401


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories")
    parser.add_argument("--window", type=int, default=2, help="steps at each end")
    args = parser.parse_args(argv)
    results = [run_step_figures(path, args.window) for path in args.runs]
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
