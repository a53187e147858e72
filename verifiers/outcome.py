"""The verdict of a rule verifier on one model response.

Every verifier returns an `Outcome` and never raises on model output: a response that cannot be
parsed, times out or crashes its sandbox is simply `correct=False` with a `reason` that says why.

A `reason` that starts with one of `ERROR_PREFIXES` marks a verifier that broke (a bug, a dead worker, a
sandbox that cannot start), not a wrong answer: its `correct=False` says nothing about the response, so
the online loop counts such outcomes (`verifier/errors`), never trains the reward model on them, and stops
the run when they pass a threshold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

ERROR_PREFIXES = ("internal_error", "verifier_error", "sandbox_error")
UNLABELLED = "unlabelled"  # the reason of a prompt no rule can judge (no gold, no tests): not verified at all


def reason_has_label(reason: str) -> bool:
    """A verdict with this `reason` says something about the response (see `Outcome.has_label`); for
    stored outcomes, of which only the reason is kept."""
    return not reason.startswith(ERROR_PREFIXES) and reason != UNLABELLED


@dataclass(frozen=True)
class Outcome:
    correct: bool
    score: float  # in [0, 1]: 1.0/0.0 for math, the fraction of tests passed for code
    reason: str  # short machine-friendly code first, e.g. "wrong_answer: got 7, expected 8"
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.correct, bool):
            raise TypeError(f"Outcome.correct must be a bool, got {type(self.correct).__name__}")
        if not (isinstance(self.score, (int, float)) and math.isfinite(self.score) and 0.0 <= self.score <= 1.0):
            raise ValueError(f"Outcome.score must be a finite float in [0, 1], got {self.score!r}")

    @property
    def is_error(self) -> bool:
        """The verifier failed to judge the response (see `ERROR_PREFIXES`)."""
        return self.reason.startswith(ERROR_PREFIXES)

    @property
    def has_label(self) -> bool:
        """A verdict that says something about the response: neither a broken verifier nor an unlabelled prompt."""
        return reason_has_label(self.reason)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Outcome":
        return cls(
            correct=bool(d["correct"]),
            score=float(d["score"]),
            reason=str(d["reason"]),
            details=dict(d.get("details") or {}),
        )
