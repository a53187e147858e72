"""A study's plots (`orchestration.study_report` writes them into DIR/plots/):

forest.png         each arm's held-out change (greedy, sampled) with its 95% interval, beside it each arm's
                   paired difference against the baseline arm, and where the study has an online arm and its
                   frozen control, their paired difference: what a reader compares at a glance
arms.png           one small panel per arm over policy steps: the training batch's verified accuracy (mean over
                   seeds, band clipped to [0, 1]), the reward an RM paid where one rewards the arm (mean over
                   seeds: rising while accuracy falls is hacking) and the RM's held-out ranking accuracy, online
                   and frozen (pair-weighted over seeds per step; no line where a step had no pair)
"""

from __future__ import annotations

import math
import os

from orchestration.study_stats import EVALS, interval


def plot(runs: dict[tuple[str, int], dict], summary: dict, seeds: list[int], out_dir: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    return [
        path for path in (_forest(plt, summary, out_dir), _small_multiples(plt, runs, summary, seeds, out_dir)) if path
    ]


def _forest(plt, summary: dict, out_dir: str) -> str | None:
    """Each arm's change and its paired difference against the baseline, and where the study has pairs (an online
    arm and its control) a third panel of their paired differences."""
    table, baseline = summary["arms"], summary["baseline"]
    arms = list(table)
    if not arms:
        return None
    pairs = [p for p in summary.get("pairs", []) if any(p[f"{name}_accuracy"]["n"] for name in EVALS)]
    panels = [
        ("held-out change after training", arms, [table[arm] for arm in arms], "change_{}_accuracy"),
        (f"paired difference vs {baseline}", arms, [table[arm] for arm in arms], "vs_baseline_{}_accuracy"),
    ]
    if pairs:
        labels = [f"{p['arm']} - {p['control']}" for p in pairs]
        panels.append(("paired difference, arm minus its control", labels, pairs, "{}_accuracy"))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5 * len(panels), 0.5 * len(arms) + 1.6), squeeze=False, sharey=False
    )
    for i, (ax, (title, labels, rows, key)) in enumerate(zip(axes[0], panels)):
        for offset, (name, colour) in zip((-0.15, 0.15), zip(EVALS, ("C0", "C1"))):
            for y, row in enumerate(rows):
                cell = row.get(key.format(name))
                if not cell or not cell["n"] or math.isnan(cell["mean"]):
                    continue
                low, high = (cell["low"], cell["high"]) if not math.isnan(cell["low"]) else (cell["mean"],) * 2
                ax.errorbar(
                    cell["mean"],
                    y + offset,
                    xerr=[[cell["mean"] - low], [high - cell["mean"]]],
                    fmt="o",
                    color=colour,
                    capsize=3,
                    markersize=4,
                    label=name if y == 0 else None,
                )
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("accuracy (mean, 95% interval over seeds)")
        ax.grid(alpha=0.3, axis="x")
        ax.set_yticks(range(len(labels)), labels if i != 1 else [""] * len(labels))  # panel 1 shares panel 0's arms
        ax.set_ylim(len(arms) - 0.5, -0.5)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        axes[0][-1].legend(handles, labels, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    path = os.path.join(out_dir, "forest.png")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _small_multiples(
    plt, runs: dict[tuple[str, int], dict], summary: dict, seeds: list[int], out_dir: str
) -> str | None:
    arms = [arm for arm in summary["arms"] if any((arm, seed) in runs for seed in seeds)]
    if not arms:
        return None
    columns = min(4, len(arms))
    rows = math.ceil(len(arms) / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 2.6 * rows), sharex=True, sharey=True, squeeze=False
    )
    for ax, arm in zip(axes.flat, arms):
        mine = [runs[arm, seed] for seed in seeds if (arm, seed) in runs]
        length = max(len(r["train_accuracy"]) for r in mine)
        steps = list(range(1, length + 1))
        cells = [
            interval([r["train_accuracy"][i] for r in mine if i < len(r["train_accuracy"])], (0.0, 1.0))
            for i in range(length)
        ]
        ax.plot(steps, [c["mean"] for c in cells], color="black", linewidth=1.5, label="training batch accuracy")
        ax.fill_between(
            steps,
            [c["low"] if not math.isnan(c["low"]) else c["mean"] for c in cells],
            [c["high"] if not math.isnan(c["high"]) else c["mean"] for c in cells],
            color="black",
            alpha=0.1,
        )
        paid = [
            [r["rm_reward"][i] for r in mine if i < len(r.get("rm_reward", [])) and r["rm_reward"][i] is not None]
            for i in range(length)
        ]
        if any(paid):
            mean = [sum(v) / len(v) if v else math.nan for v in paid]
            ax.plot(steps, mean, color="C3", linewidth=1.2, label="RM reward paid (mean)")
        for prefix, style, label in (("rm", "-", "online RM held-out"), ("rm_frozen", "--", "frozen RM held-out")):
            per_step = []
            for i in range(length):
                units = [
                    (r[f"{prefix}_heldout"][i], r[f"{prefix}_pairs"][i])
                    for r in mine
                    if i < len(r[f"{prefix}_heldout"])
                    and r[f"{prefix}_pairs"][i]
                    and r[f"{prefix}_heldout"][i] is not None
                ]
                pairs = sum(p for _, p in units)
                per_step.append(sum(a * p for a, p in units) / pairs if pairs else math.nan)
            if any(math.isfinite(v) for v in per_step):
                ax.plot(steps, per_step, style, color="C0", linewidth=1, label=label)
        ax.set_title(arm, fontsize=9)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(arms) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("policy step")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    legend = {}  # every line any panel drew, once
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    fig.legend(list(legend.values()), list(legend), fontsize=8, loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(
        "Per arm: verified accuracy of each step's samples (band: 95% over seeds), the reward an RM paid and the RM's "
        "held-out ranking accuracy",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path = os.path.join(out_dir, "arms.png")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
