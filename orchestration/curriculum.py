"""An adaptive curriculum over the built-in arithmetic levels (`data.curriculum`).

Prompts are drawn from the levels whose recent group accuracy lies in a band (default 0.2-0.8, PRIME's
online filter, arXiv 2502.01456): there a group of k samples is likely to hold both right and wrong answers,
which is all GRPO can learn from. The run starts on the first of `data.levels` alone; a level whose accuracy
over its last `window` groups rises above the band is saturated, and the next level opens. Saturated levels are
no longer drawn. A level below the band is too hard and is skipped while another unlocked level is in the
band; when no unlocked level is (all saturated with nothing left to open, or all too hard), the one nearest
the band is drawn. Levels share each step's prompts in turn.

The state (accuracy windows, problems drawn per level, levels opened) is a small dict saved in every
checkpoint, so a resumed run draws exactly what the uninterrupted one would have.
"""

from __future__ import annotations

from collections import deque

from orchestration.arithmetic import ArithmeticTasks
from orchestration.tasks import TaskItem


class Curriculum:
    def __init__(
        self,
        levels: list[int],
        seed: int,
        held_out_fraction: float,
        band: tuple[float, float] = (0.2, 0.8),
        window: int = 16,
        phrasings: tuple[str, ...] | list[str] = ("bare",),
        worked_example: bool = False,
    ):
        low, high = band
        if not 0.0 <= low < high <= 1.0:
            raise ValueError(f"curriculum band must satisfy 0 <= low < high <= 1, got {list(band)}")
        if window < 1:
            raise ValueError(f"curriculum window must be >= 1 group, got {window}")
        self.levels, self.band, self.window = list(levels), (low, high), window
        self.sources = {
            level: ArithmeticTasks([level], "train", seed, held_out_fraction, phrasings, worked_example)
            for level in self.levels
        }
        self.history: dict[int, deque[float]] = {level: deque(maxlen=window) for level in self.levels}
        self.drawn = {level: 0 for level in self.levels}
        self.opened = 1  # levels[:opened] are unlocked
        self.turn = 0  # which active level takes the next prompt

    def __len__(self) -> None:  # endless, like the generator it draws from
        return None

    def item(self, index: int) -> TaskItem:
        """A problem of the levels in turn, without drawing it (what a look at the source needs, e.g. the
        start-up verifier check); training draws with `draw`."""
        level = self.levels[index % len(self.levels)]
        return self.sources[level].item(index // len(self.levels))

    def accuracy(self, level: int) -> float | None:
        """Mean accuracy over the level's last `window` groups; None until the window is full."""
        history = self.history[level]
        return sum(history) / len(history) if len(history) == self.window else None

    def active(self) -> list[int]:
        """The unlocked levels prompts are drawn from now."""
        low, high = self.band
        unlocked = self.levels[: self.opened]
        in_band = [lv for lv in unlocked if self.accuracy(lv) is None or low <= self.accuracy(lv) <= high]
        if in_band:
            return in_band

        def distance(level: int) -> float:
            acc = self.accuracy(level)
            return max(low - acc, acc - high, 0.0)

        return [min(reversed(unlocked), key=distance)]  # ties go to the later (harder) level

    def draw(self, n: int) -> list[TaskItem]:
        """The next `n` prompts, the active levels taking turns."""
        active, items = self.active(), []
        for _ in range(n):
            level = active[self.turn % len(active)]
            self.turn += 1
            items.append(self.sources[level].item(self.drawn[level]))
            self.drawn[level] += 1
        return items

    def record(self, results: list[tuple[int, float]]) -> None:
        """`(level, group accuracy)` for every group of the step (every process's, in one order); then open the
        next level while the newest one is saturated."""
        for level, accuracy in results:
            if level in self.history:
                self.history[level].append(float(accuracy))
        while self.opened < len(self.levels):
            newest = self.accuracy(self.levels[self.opened - 1])
            if newest is None or newest <= self.band[1]:
                break
            self.opened += 1

    def metrics(self) -> dict[str, float]:
        out = {"curriculum/level": float(self.levels[self.opened - 1])}
        for level in self.levels[: self.opened]:
            history = self.history[level]
            if history:
                out[f"curriculum/level{level}_accuracy"] = sum(history) / len(history)
        return out

    def state_dict(self) -> dict:
        return {
            "history": {str(lv): list(h) for lv, h in self.history.items()},
            "drawn": {str(lv): n for lv, n in self.drawn.items()},
            "opened": self.opened,
            "turn": self.turn,
        }

    def load_state_dict(self, state: dict) -> None:
        self.history = {lv: deque(state["history"][str(lv)], maxlen=self.window) for lv in self.levels}
        self.drawn = {lv: int(state["drawn"][str(lv)]) for lv in self.levels}
        self.opened, self.turn = int(state["opened"]), int(state["turn"])
