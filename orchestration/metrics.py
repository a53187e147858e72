"""Run observability: stage timers, the JSONL metrics log (rank 0 only), and the reward-hacking alarm."""

from __future__ import annotations

import json
import math
import os
import time
from collections import deque
from contextlib import contextmanager
from typing import Any


@contextmanager
def timer(name: str, timings: dict[str, float]):
    """`with timer("generate", timings):` adds the seconds spent to `timings["timing/generate"]`."""
    start = time.perf_counter()
    try:
        yield
    finally:
        key = f"timing/{name}"
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - start


def nan_safe_mean(values) -> float:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(finite) / len(finite) if finite else float("nan")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # tensors and numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; None reads as "not measured this step"
    return value


class MetricsLogger:
    """Appends one JSON object per step to `path`; forwards to accelerate trackers when given."""

    def __init__(self, path: str | None, accelerator=None, use_trackers: bool = False):
        self.path, self.accelerator, self.use_trackers = path, accelerator, use_trackers
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        row = {"step": step, **{k: _jsonable(v) for k, v in metrics.items()}}
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())
        if self.use_trackers and self.accelerator is not None:
            numeric = {k: v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"}
            self.accelerator.log(numeric, step=step)


def read_metrics(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class HackingAlarm:
    """Fires when the RM reward rises while verified accuracy falls over the last `window` steps.

    Compares the means of the older and newer halves of the window: RM reward up by more than
    `tolerance` and verified accuracy down by more than `tolerance` is the signature of the policy
    exploiting the reward model rather than solving the task.
    """

    def __init__(self, window: int = 10, tolerance: float = 0.02):
        if window < 2:
            raise ValueError(f"the reward-hacking window must be >= 2 steps, got {window}")
        self.window, self.tolerance = window, tolerance
        self.history: deque[tuple[float, float]] = deque(maxlen=window)

    def update(self, rm_reward: float, accuracy: float) -> bool:
        if not (math.isfinite(rm_reward) and math.isfinite(accuracy)):
            return False
        self.history.append((rm_reward, accuracy))
        if len(self.history) < self.window:
            return False
        half = self.window // 2
        old, new = list(self.history)[:half], list(self.history)[-half:]
        reward_rise = nan_safe_mean(r for r, _ in new) - nan_safe_mean(r for r, _ in old)
        accuracy_drop = nan_safe_mean(a for _, a in old) - nan_safe_mean(a for _, a in new)
        return reward_rise > self.tolerance and accuracy_drop > self.tolerance

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = deque((tuple(h) for h in state["history"]), maxlen=self.window)
