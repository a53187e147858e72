"""How a run's training samples' steps changed: the rule checker on every stored completion, first vs last steps.

For a run directory, from its outcome buffer (`outcomes.jsonl`), over the first and the last `window` policy steps:
verified accuracy, steps (lines) per completion, the share of steps `verifiers.math.check_steps` can judge, the
share of those that hold, and the share of steps whose claims all repeat an earlier step's
(`verifiers.steps.repeated_claims`: the way the gamed GRPO+PS runs earned step reward). Outcome-supervised runs
store no step labels, so every run's completions are judged here the same way (the task's `substitute` is not in
the buffer: level-4 equations would count as unverifiable; the built-in levels 1-3 have none).
Used by the study's report (`orchestration.study_report`) and `benchmarks/step_accuracy.py`.
"""

from __future__ import annotations

import os

from orchestration.buffer import OutcomeBuffer
from verifiers.math import check_steps
from verifiers.steps import mark_repeats

STEP_FIGURES = ("accuracy", "steps_per_completion", "verifiable_steps", "true_of_verifiable", "repeated_steps")


def window_figures(rows) -> dict[str, float]:
    """The figures above over `rows` (anything with `.response` and `.correct`)."""
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


def run_step_figures(path: str, window: int = 2) -> dict:
    """{"run", "first", "last"}: `window_figures` over the run's first and last `window` steps."""
    buffer = OutcomeBuffer(os.path.join(path, "outcomes.jsonl"))
    rows = buffer.read(range(len(buffer)))
    if not rows:
        raise ValueError(f"{path}/outcomes.jsonl holds no outcomes")
    last = max(r.step for r in rows)
    return {
        "run": os.path.basename(path.rstrip("/")),
        "first": window_figures([r for r in rows if r.step <= window]),
        "last": window_figures([r for r in rows if r.step > last - window]),
    }
