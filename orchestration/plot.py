"""Draw PNG plots of a run from its metrics.jsonl.

    python -m orchestration.plot runs/default          # writes runs/default/plots/*.png

One figure per question a person asks of a run:
    heldout_accuracy   did the policy get better on problems it never trained on? greedy and sampled, each with
                       its share per phrasing (or level) as thinner lines; step 0 is the policy before training
    asked_format       does it answer in the format the prompt asks for (\\boxed{})? held-out, and on the
                       training batch
    training_batch     reward, verified accuracy and the share cut off at the length limit, of each step's own
                       samples
    rm_heldout         the reward model's ranking accuracy on each fresh batch before it trains on it, online and
                       frozen; each point is sized by the number of pairs it rests on, and a step without pairs
                       is a gap, not a point
    kl                 KL to the reference policy
    completion_length  tokens per completion
    seconds_per_stage  where each step's time went
"""

from __future__ import annotations

import argparse
import math
import os
import re

from orchestration.metrics import read_metrics

# panel -> (title, y-axis label, [(metric key, legend label)])
PANELS: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "asked_format": (
        "Answers in the format the prompt asks for",
        "share of answers",
        [
            ("eval/greedy_format", "held-out, greedy"),
            ("eval/sampled_format", "held-out, sampled"),
            ("reward/format", "training batch"),
        ],
    ),
    "training_batch": (
        "Each step's own samples",
        "mean over the batch",
        [
            ("reward/mean", "reward"),
            ("verifier/accuracy", "verified accuracy"),
            ("rm/reward_mean", "RM score"),
            ("completion/truncated_fraction", "share cut off at the length limit"),
        ],
    ),
    "kl": ("Distance from the reference policy", "KL (k3 estimate, per token)", [("policy/kl", "policy vs reference")]),
    "completion_length": ("Completion length", "tokens", [("completion/length_mean", "mean per completion")]),
    "seconds_per_stage": (
        "Where each step's time went",
        "seconds",
        [
            ("timing/generate", "sampling"),
            ("timing/verify", "verifying"),
            ("timing/rm_score", "RM scoring"),
            ("timing/rm_update", "RM update"),
            ("timing/policy_update", "policy update"),
        ],
    ),
}
RM_CURVES = [("rm", "online RM"), ("rm_frozen", "frozen first version")]
_PART = re.compile(r"^eval/(greedy|sampled)_accuracy_(.+)$")


def series(rows: list[dict], key: str, gaps: bool = False) -> tuple[list[int], list[float]]:
    """(steps, values) of `key`; evaluations before training (`eval/initial_*`) are drawn at step 0. With
    `gaps`, a step that logged the key without a value (null: not measured) gives NaN, which breaks the line."""
    initial = key.replace("eval/", "eval/initial_") if key.startswith("eval/") else None
    points = [(0, row[initial]) for row in rows if initial and isinstance(row.get(initial), (int, float))]
    for row in rows:
        if isinstance(row.get(key), (int, float)):
            points.append((row["step"], float(row[key])))
        elif gaps and key in row:
            points.append((row["step"], math.nan))
    return [s for s, _ in points], [v for _, v in points]


def heldout_parts(rows: list[dict]) -> list[str]:
    """The phrasings or levels the held-out accuracy is also logged for (`eval/*_accuracy_<part>`), sorted."""
    return sorted({m.group(2) for row in rows for key in row if (m := _PART.match(key.replace("initial_", "")))})


def plot_run(run_dir: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(os.path.join(run_dir, "metrics.jsonl"))
    out_dir = os.path.join(run_dir, "plots")
    os.makedirs(out_dir, exist_ok=True)
    written = [path for path in (_heldout(plt, rows, out_dir), _rm_heldout(plt, rows, out_dir)) if path]
    for name, (title, ylabel, curves) in PANELS.items():
        fig, ax = plt.subplots(figsize=(7, 3.5))
        drawn = 0
        for key, label in curves:
            steps, values = series(rows, key)
            if not steps:
                continue
            ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=label)
            drawn += 1
        if drawn:
            written.append(
                save_panel(fig, ax, title, os.path.join(out_dir, f"{name}.png"), ylabel=ylabel, legend_outside=True)
            )
        plt.close(fig)
    return written


def _heldout(plt, rows: list[dict], out_dir: str) -> str | None:
    """Greedy and sampled held-out accuracy side by side, each with its per-phrasing (or level) lines."""
    if not any(series(rows, f"eval/{name}_accuracy")[0] for name in ("greedy", "sampled")):
        return None
    parts = heldout_parts(rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
    for ax, name in zip(axes, ("greedy", "sampled")):
        ax.plot(*series(rows, f"eval/{name}_accuracy"), marker="o", color="black", linewidth=2, label="all")
        for i, part in enumerate(parts):
            ax.plot(
                *series(rows, f"eval/{name}_accuracy_{part}"),
                marker=".",
                linewidth=1,
                linestyle="--",
                color=f"C{i}",
                label=part,
            )
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(f"{name} ({'one answer each' if name == 'greedy' else 'temperature samples'})", fontsize=10)
        ax.set_xlabel("policy step (0 = before training)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("verified accuracy")
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle("Held-out problems: accuracy on problems never trained on")
    fig.tight_layout()
    path = os.path.join(out_dir, "heldout_accuracy.png")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _rm_heldout(plt, rows: list[dict], out_dir: str) -> str | None:
    """Ranking accuracy of the RMs on each fresh batch, points sized by pair count, gaps where there were none."""
    if not any(series(rows, f"{prefix}/heldout_ranking_accuracy")[0] for prefix, _ in RM_CURVES):
        return None
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, (prefix, label) in enumerate(RM_CURVES):
        steps, values = series(rows, f"{prefix}/heldout_ranking_accuracy", gaps=True)
        pairs = dict(zip(*series(rows, f"{prefix}/heldout_pairs")))
        if not any(math.isfinite(v) for v in values):
            continue
        ax.plot(steps, values, color=f"C{i}", linewidth=1, alpha=0.6)
        sizes = [6 + 3 * math.sqrt(pairs.get(s, 0)) for s in steps]
        ax.scatter(steps, values, s=sizes, color=f"C{i}", label=f"{label} (point size: pairs)")
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":", label="chance")
    ax.set_ylim(-0.03, 1.03)
    path = save_panel(
        fig,
        ax,
        "Reward model on each fresh batch, before training on it",
        os.path.join(out_dir, "rm_heldout.png"),
        ylabel="within-group ranking accuracy",
        legend_outside=True,
    )
    plt.close(fig)
    return path


def save_panel(
    fig,
    ax,
    title: str,
    path: str,
    title_size: float | None = None,
    legend_outside: bool = False,
    ylabel: str | None = None,
) -> str:
    """The house style of a panel over policy steps (labels, grid, legend when something is labelled: beside
    the axes with `legend_outside`, for many curves), saved."""
    ax.set_xlabel("policy step")
    if ylabel:
        ax.set_ylabel(ylabel)
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
