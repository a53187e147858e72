"""The few lines a finished run ends with: held-out accuracy before and after, how the RM judged, where to look.

print(run_summary(read_metrics("runs/default/metrics.jsonl"), "runs/default"))
"""

from __future__ import annotations

import math
import os

from orchestration.metrics import nan_safe_mean


def _last(rows: list[dict], key: str):
    return next((row[key] for row in reversed(rows) if isinstance(row.get(key), (int, float))), None)


def _mean(rows: list[dict], key: str) -> float | None:
    mean = nan_safe_mean(row.get(key) for row in rows)
    return None if math.isnan(mean) else mean


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def run_summary(rows: list[dict], run_dir: str) -> str:
    """A short text from a run's metrics rows (`metrics.jsonl`), resumed runs included."""
    lines = [f"done: {len(rows)} steps in {run_dir}"]
    for name in ("greedy", "sampled"):
        before, after = _last(rows, f"eval/initial_{name}_accuracy"), _last(rows, f"eval/{name}_accuracy")
        parts = sorted(
            {
                key[len(f"eval/{name}_accuracy_") :]
                for row in rows
                for key in row
                if key.startswith(f"eval/{name}_accuracy_")
            }
        )
        detail = ", ".join(
            f"{part} {_fmt(_last(rows, f'eval/initial_{name}_accuracy_{part}'))} -> "
            f"{_fmt(_last(rows, f'eval/{name}_accuracy_{part}'))}"
            for part in parts
        )
        lines.append(
            f"  held-out {name} accuracy: {_fmt(before)} -> {_fmt(after)}" + (f" ({detail})" if detail else "")
        )
    formats = [
        (name, _last(rows, f"eval/initial_{name}_format"), _last(rows, f"eval/{name}_format"))
        for name in ("greedy", "sampled")
    ]
    if any(after is not None for _, _, after in formats):
        lines.append(
            "  held-out answers in the asked format: "
            + ", ".join(f"{name} {_fmt(before)} -> {_fmt(after)}" for name, before, after in formats)
        )
    online, frozen = _mean(rows, "rm/heldout_ranking_accuracy"), _mean(rows, "rm_frozen/heldout_ranking_accuracy")
    if online is not None or frozen is not None:
        lines.append(
            f"  RM held-out ranking accuracy, mean over steps: online {_fmt(online)}, "
            f"frozen first version {_fmt(frozen)}"
        )
    alarms = [row["step"] for row in rows if row.get("rm/hacking_alarm")]
    if alarms:
        lines.append(f"  reward-hacking alarm at steps {alarms}: read samples.jsonl")
    errors = sum(row.get("verifier/errors", 0) or 0 for row in rows)
    if errors:
        lines.append(f"  verifier errors: {int(errors)} outcomes in all (verifier/errors in metrics.jsonl)")
    lines.append(
        f"  metrics: {os.path.join(run_dir, 'metrics.jsonl')}; plots: {os.path.join(run_dir, 'plots')}; "
        f"models: {os.path.join(run_dir, 'final')}"
    )
    return "\n".join(lines)
