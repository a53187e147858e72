"""What a study found: per-arm means and 95% intervals over seeds, `report.md`, `results.json` and plots.

    python -m orchestration.study_report runs/study --arms verifier rm --seeds 0 1 2   # re-draw from finished runs

Intervals are Student-t over seeds (n - 1 degrees of freedom): with 3 seeds the half-width is 2.48 standard
deviations of the seeds' figures, so only differences larger than the intervals are findings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics

from orchestration.metrics import nan_safe_mean, read_metrics
from orchestration.plot import save_panel

EVALS = ("greedy", "sampled")
_LEVEL_EVAL = re.compile(r"^eval/((?:greedy|sampled)_accuracy_level\d+)$")


def eval_names(rows: list[dict]) -> list[str]:
    """`greedy_accuracy`, `sampled_accuracy`, then per-level figures where the run has them (arithmetic over
    several levels: `greedy_accuracy_level1`, ...)."""
    levels = sorted({m.group(1) for r in rows for key in r for m in [_LEVEL_EVAL.match(key)] if m})
    return [f"{name}_accuracy" for name in EVALS] + levels


def interval(values: list[float]) -> dict[str, float]:
    """Mean and 95% Student-t interval of `values` (NaNs dropped); half-width NaN below two values."""
    from scipy.stats import t

    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not values:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    mean = statistics.fmean(values)
    half = t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values)) \
        if len(values) > 1 else math.nan
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": len(values)}


def summarize_run(path: str) -> dict:
    """One run's figures from its metrics.jsonl (and study_run.json for its wall time)."""
    rows = read_metrics(os.path.join(path, "metrics.jsonl"))
    run = {"steps": len(rows), "alarms": sum(1 for r in rows if r.get("rm/hacking_alarm")),
           "train_accuracy": [r.get("verifier/accuracy") for r in rows],
           "rm_heldout": [r.get("rm/heldout_ranking_accuracy") for r in rows],
           "rm_frozen_heldout": [r.get("rm_frozen/heldout_ranking_accuracy") for r in rows]}
    run["evals"] = eval_names(rows)
    for name in run["evals"]:
        run[f"before_{name}"] = next((r[f"eval/initial_{name}"] for r in rows if f"eval/initial_{name}" in r), None)
        run[f"after_{name}"] = next((r[f"eval/{name}"] for r in reversed(rows) if f"eval/{name}" in r), None)
    record = os.path.join(path, "study_run.json")
    run["seconds"] = json.load(open(record, encoding="utf-8"))["seconds"] if os.path.isfile(record) else None
    return run


def aggregate(runs: dict[tuple[str, int], dict], arms: list[str], seeds: list[int]) -> dict:
    """Per arm: intervals over seeds of held-out accuracy before/after/change, RM held-out ranking accuracy
    (online and frozen, averaged over the run's steps), alarms and minutes per run."""
    from orchestration.study import _data

    def base(arm: str, name: str, seed: int):  # evaluated once per seed, by one arm of those with its data
        return next((runs[a, seed].get(f"before_{name}") for a in arms if (a, seed) in runs and _data(a) == _data(arm)
                     and runs[a, seed].get(f"before_{name}") is not None), None)

    table = {}
    for arm in arms:
        mine = [(seed, runs[arm, seed]) for seed in seeds if (arm, seed) in runs]
        row = {"seeds": [seed for seed, _ in mine]}
        row["evals"] = list(dict.fromkeys(name for _, r in mine for name in r["evals"]))
        before = {(name, seed): base(arm, name, seed) for name in row["evals"] for seed, _ in mine}
        for name in row["evals"]:
            row[f"before_{name}"] = interval([before[name, seed] for seed, _ in mine])
            row[f"after_{name}"] = interval([r.get(f"after_{name}") for _, r in mine])
            row[f"change_{name}"] = interval([r[f"after_{name}"] - before[name, seed] for seed, r in mine
                                              if r.get(f"after_{name}") is not None and before[name, seed] is not None])
        row["rm_heldout"] = interval([nan_safe_mean(r["rm_heldout"]) for _, r in mine])
        row["rm_frozen_heldout"] = interval([nan_safe_mean(r["rm_frozen_heldout"]) for _, r in mine])
        row["alarms"] = sum(r["alarms"] for _, r in mine)
        row["minutes"] = interval([r["seconds"] / 60 for _, r in mine if r["seconds"] is not None])
        table[arm] = row
    return table


def _fmt(cell: dict, digits: int = 3) -> str:
    if not cell["n"] or math.isnan(cell["mean"]):
        return "—"
    if math.isnan(cell["low"]):
        return f"{cell['mean']:.{digits}f}"
    return f"{cell['mean']:.{digits}f} [{cell['low']:.{digits}f}, {cell['high']:.{digits}f}]"


def markdown(table: dict, command: str) -> str:
    from orchestration.study import ARMS

    lines = ["# Study report", "", f"Command: `{command}`", "",
             "Held-out verified accuracy, mean and 95% interval over seeds (Student t). `before` is the base "
             "policy (the same for every arm of a seed). RM columns: within-group ranking accuracy of the "
             "online RM and of its frozen first version on each step's fresh batch, before the RM trains on "
             "it, averaged over the run.", "",
             "| arm | seeds | greedy before | greedy after | greedy change | sampled before | sampled after | "
             "sampled change | online RM held-out | frozen RM held-out | alarms | minutes/run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for arm, row in table.items():
        cells = [_fmt(row[f"{kind}_{name}_accuracy"]) for name in EVALS for kind in ("before", "after", "change")]
        lines.append(f"| `{arm}` | {len(row['seeds'])} | " + " | ".join(cells) + f" | {_fmt(row['rm_heldout'])} | "
                     f"{_fmt(row['rm_frozen_heldout'])} | {row['alarms']} | {_fmt(row['minutes'], 1)} |")
    per_level = {arm: [n for n in row["evals"] if "_level" in n] for arm, row in table.items()}
    if any(per_level.values()):
        lines += ["", "Per level (held-out problems of each level):", "",
                  "| arm | figure | before | after | change |", "|---|---|---|---|---|"]
        for arm, names in per_level.items():
            for name in names:
                cells = " | ".join(_fmt(table[arm][f"{kind}_{name}"]) for kind in ("before", "after", "change"))
                lines.append(f"| `{arm}` | {name.replace('_accuracy_', ' ')} | {cells} |")
    lines += ["", "Arms:", ""] + [f"- `{arm}`: {ARMS[arm][0]}" for arm in table]
    return "\n".join(lines) + "\n"


def plot(runs: dict[tuple[str, int], dict], arms: list[str], seeds: list[int], out_dir: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    panels = {"train_accuracy": ("verified accuracy of each step's batch", [("train_accuracy", "")]),
              "rm_heldout": ("RM held-out ranking accuracy: online (solid) vs frozen first version (dashed)",
                             [("rm_heldout", "-"), ("rm_frozen_heldout", "--")])}
    written = []
    for name, (title, series) in panels.items():
        fig, ax = plt.subplots(figsize=(7, 4))
        for colour, arm in enumerate(arms):
            for key, style in series:
                curves = [runs[arm, seed][key] for seed in seeds if (arm, seed) in runs]
                if not curves or all(v is None for c in curves for v in c):
                    continue
                steps = range(1, max(len(c) for c in curves) + 1)
                cells = [interval([c[i] for c in curves if i < len(c) and c[i] is not None]) for i in range(len(steps))]
                mean = [c["mean"] for c in cells]
                ax.plot(steps, mean, style or "-", color=f"C{colour}", label=f"{arm}{' frozen' if style == '--' else ''}")
                if style == "--":  # the frozen RM's curve without a band: two bands per arm hide every curve
                    continue
                # both panels are accuracies: a t-interval over 2-3 seeds can reach past [0, 1], which means nothing
                ax.fill_between(steps, [max(c["low"], 0.0) for c in cells], [min(c["high"], 1.0) for c in cells],
                                color=f"C{colour}", alpha=0.12)
        ax.set_ylim(-0.02, 1.02)
        written.append(save_panel(fig, ax, title, os.path.join(out_dir, f"{name}.png"), title_size=9,
                                  legend_outside=True))
        plt.close(fig)
    return written


def write_report(output_dir: str, arms: list[str], seeds: list[int], argv: list[str]) -> dict:
    """Summarize every finished run of the study; write report.md, results.json and plots/."""
    from orchestration.study import is_finished, run_dir

    runs = {(arm, seed): summarize_run(run_dir(output_dir, arm, seed)) for arm in arms for seed in seeds
            if is_finished(run_dir(output_dir, arm, seed))}
    table = aggregate(runs, arms, seeds)
    command = "python -m orchestration.study " + " ".join(argv)
    with open(os.path.join(output_dir, "report.md"), "w", encoding="utf-8") as f:
        f.write(markdown(table, command))
    results = {"command": command, "arms": table,
               "runs": [{"arm": arm, "seed": seed, **run} for (arm, seed), run in runs.items()]}
    with open(os.path.join(output_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, allow_nan=True)
    plot(runs, arms, seeds, os.path.join(output_dir, "plots"))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir")
    parser.add_argument("--arms", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    args = parser.parse_args(argv)
    write_report(args.output_dir, args.arms, args.seeds, ["--output-dir", args.output_dir, "--arms", *args.arms,
                                                          "--seeds", *map(str, args.seeds)])
    print(os.path.join(args.output_dir, "report.md"))


if __name__ == "__main__":
    main()
