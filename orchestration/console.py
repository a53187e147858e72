"""What a run prints while it works: nothing silent for more than a few seconds.

- `announce("loading the policy")` prints what starts and, when it ends, how long it took;
- `eval_line(step, metrics)` is the one line every held-out evaluation prints;
- `StepClock` estimates the time left from the steps' own durations: the median of the steps after the first
  (the first carries one-off costs: kernels warming up, the longest completions) times the steps left, plus one
  evaluation's measured time for each evaluation left. tqdm's own estimate divides elapsed time by steps done,
  which once read 4 h 44 min for a 7-minute run after the initial evaluation.

Only the main process prints (`Console(enabled=...)`); lines go through `tqdm.write` so a progress bar stays whole.
"""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager


class Console:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled

    def print(self, line: str) -> None:
        if self.enabled:
            from tqdm.auto import tqdm

            tqdm.write(line)

    @contextmanager
    def announce(self, what: str):
        """`with console.announce("loading the policy"):` -> 'loading the policy ...' then '... done (3.2 s)'."""
        self.print(f"{what} ...")
        start = time.perf_counter()
        yield
        self.print(f"{what}: done ({format_seconds(time.perf_counter() - start)})")


def format_seconds(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def eval_line(step: int, metrics: dict[str, float], prefix: str = "eval/") -> str:
    """'[eval, step 8] greedy 0.875 (bare 0.94, worded 0.88, word 0.81) | sampled 0.828 (...)' from the
    evaluation's metrics (`eval/{greedy,sampled}_accuracy[_<part>]`; `prefix` eval/initial_ for the first one);
    the share of answers in the asked format, when measured."""
    parts = []
    for name in ("greedy", "sampled"):
        key = f"{prefix}{name}_accuracy"
        if key not in metrics:
            continue
        by_part = [(k[len(key) + 1 :], v) for k, v in metrics.items() if k.startswith(key + "_")]
        detail = f" ({', '.join(f'{part} {value:.2f}' for part, value in by_part)})" if by_part else ""
        parts.append(f"{name} {metrics[key]:.3f}{detail}")
    formats = [
        f"{name} {metrics[f'{prefix}{name}_format']:.2f}"
        for name in ("greedy", "sampled")
        if f"{prefix}{name}_format" in metrics
    ]
    if formats:
        parts.append("in the asked format: " + ", ".join(formats))
    return f"[eval, step {step}] " + " | ".join(parts)


class StepClock:
    """Time left in a run, from the durations of its steps and of its evaluations."""

    def __init__(self):
        self.steps: list[float] = []
        self.evals: list[float] = []

    def record_step(self, seconds: float) -> None:
        self.steps.append(seconds)

    def record_eval(self, seconds: float) -> None:
        self.evals.append(seconds)

    def remaining(self, steps_left: int, evals_left: int) -> float | None:
        """Seconds left, or None until a step after the first has been timed (the first is not typical)."""
        if len(self.steps) < 2:
            return None
        per_eval = self.evals[-1] if self.evals else 0.0
        return statistics.median(self.steps[1:]) * steps_left + per_eval * evals_left
