"""Draw PNG plots of a run from its metrics.jsonl.

    python -m orchestration.plot runs/default          # writes runs/default/plots/*.png

One figure per panel: reward, verified accuracy (train batch and held-out eval), RM held-out ranking
accuracy and AUC, KL to the reference, completion length, and seconds per stage.
"""

from __future__ import annotations

import argparse
import os

from orchestration.metrics import read_metrics

PANELS = {
    "reward": ["reward/mean", "rm/reward_mean"],
    "verified_accuracy": ["verifier/accuracy", "eval/greedy_accuracy", "eval/sampled_accuracy"],
    "rm_heldout": ["rm/heldout_ranking_accuracy", "rm_frozen/heldout_ranking_accuracy", "rm/heldout_auc"],
    "kl": ["policy/kl"],
    "completion_length": ["completion/length_mean"],
    "seconds_per_stage": ["timing/generate", "timing/verify", "timing/rm_score", "timing/rm_update",
                          "timing/policy_update"],
}


def series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of `key`; evaluations before training (`eval/initial_*`) are drawn at step 0."""
    initial = key.replace("eval/", "eval/initial_") if key.startswith("eval/") else None
    points = [(0, row[initial]) for row in rows if initial and isinstance(row.get(initial), (int, float))]
    points += [(row["step"], row[key]) for row in rows if isinstance(row.get(key), (int, float))]
    return [s for s, _ in points], [v for _, v in points]


def plot_run(run_dir: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(os.path.join(run_dir, "metrics.jsonl"))
    out_dir = os.path.join(run_dir, "plots")
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, keys in PANELS.items():
        fig, ax = plt.subplots(figsize=(6, 3.5))
        drawn = False
        for key in keys:
            steps, values = series(rows, key)
            if steps:
                ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=key)
                drawn = True
        if drawn:
            written.append(save_panel(fig, ax, name.replace("_", " "), os.path.join(out_dir, f"{name}.png")))
        plt.close(fig)
    return written


def save_panel(fig, ax, title: str, path: str, title_size: float | None = None, legend_outside: bool = False) -> str:
    """The house style of a panel over policy steps (labels, grid, legend when something is labelled: beside
    the axes with `legend_outside`, for many curves), saved."""
    ax.set_xlabel("policy step")
    ax.set_title(title, fontsize=title_size)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, **({"loc": "center left", "bbox_to_anchor": (1.01, 0.5)} if legend_outside else {}))
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight" if legend_outside else None)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    args = parser.parse_args(argv)
    for path in plot_run(args.run_dir):
        print(path)


if __name__ == "__main__":
    main()
