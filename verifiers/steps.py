"""Reasoning steps: how a response is cut into steps (process supervision, DeepSeekMath §4.1.3).

    segment(response, mode="lines")    -> [Step(start, end, text), ...]   character spans, in order

Modes (documented rules; the step reward model and the rule checker use the same ones):
    lines    one step per non-empty line; a step spans the line without its surrounding whitespace. This
             is what the multi-step prompts ask for ("one step per line").
    markers  a step starts at each `Step k:` marker (also `Step k.`, `Step k)`, `**Step k:**`, at the start of
             a line, any case) and runs to the next one; non-blank text before the first marker is a step
             of its own, and a response without any marker is one step.

The last character of a step is its end; `policy.steps.token_step_ends` maps ends to completion tokens.
A response with more than `max_steps` steps keeps its last `max_steps` (the ones nearest the answer): model
text is hostile input, and a step count must stay bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STEP_MODES = ("lines", "markers")
MAX_STEPS = 64
_MARKER = re.compile(r"(?im)^[ \t]*(?:\*\*)?[ \t]*step[ \t]*\d{1,3}[ \t]*(?:\*\*)?[ \t]*[:.)](?:\*\*)?")


@dataclass(frozen=True)
class Step:
    start: int  # character offsets into the response: text == response[start:end]
    end: int
    text: str


@dataclass(frozen=True)
class StepOutcome:
    """The rule's verdict on one step (`verifiers.math.check_steps`)."""

    start: int  # the step's character span in the response
    end: int
    verdict: str  # "true": every claim it makes holds | "false": one does not | "unverifiable": none to check
    claims: int  # equalities checked
    reason: str  # the first false claim, or why nothing could be checked
    outcome: object | None = None  # the final step only: the outcome check against the gold (`Outcome`)

    @property
    def label(self) -> float | None:
        """1.0 good, 0.0 bad, None unknown. The final step is good when its claims hold and the answer is right."""
        if self.outcome is not None:
            return float(self.verdict != "false" and self.outcome.correct)
        return {"true": 1.0, "false": 0.0}.get(self.verdict)


@dataclass(frozen=True)
class LabelledStep:
    """A step whose label comes from elsewhere than the rule checker (Monte-Carlo rollouts,
    `orchestration.mc_labels`): 1.0 good, 0.0 bad, a soft value in [0, 1], or None (no label)."""

    start: int
    end: int
    label: float | None
    reason: str = ""


def _stripped(response: str, start: int, end: int) -> Step | None:
    """The span [start, end) without surrounding whitespace, or None if blank."""
    while start < end and response[start].isspace():
        start += 1
    while end > start and response[end - 1].isspace():
        end -= 1
    return Step(start, end, response[start:end]) if end > start else None


def segment(response: str, mode: str = "lines", max_steps: int = MAX_STEPS) -> list[Step]:
    """The steps of `response`, in order (see the module docstring for the rules)."""
    if mode not in STEP_MODES:
        raise ValueError(f"step mode must be one of {STEP_MODES}, got {mode!r}")
    if not isinstance(response, str):
        return []
    if mode == "lines":
        bounds, start = [], 0
        for line in response.split("\n"):
            bounds.append((start, start + len(line)))
            start += len(line) + 1
    else:
        starts = [m.start() for m in _MARKER.finditer(response)]
        cuts = [0] + [s for s in starts if s > 0] + [len(response)]
        bounds = list(zip(cuts[:-1], cuts[1:]))
    steps = [step for a, b in bounds if (step := _stripped(response, a, b)) is not None]
    return steps[-max_steps:]
