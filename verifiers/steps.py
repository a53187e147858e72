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

Step rewards pay for progress, not repetition (a policy paid per true step learnt to write `4 + 7 = 11` ten
times, docs/process_supervision.md):
    repeated_claims(texts)                          -> per step: every claim it makes was made before
    mark_repeats(judged_steps, response)            -> the rule's verdicts with those repeats marked (label 0)
    progress_rewards(rewards, repeated, max_rewarded) -> a repeat earns 0; at most max_rewarded steps earn > 0
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

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
    repeated: bool = False  # every claim it makes was made by an earlier step of the response (`repeated_claims`)
    off_path: bool = False  # what it arrives at is none of the reference solution's values (`mark_off_path`)

    @property
    def label(self) -> float | None:
        """1.0 good, 0.0 bad, None unknown. The final step is good when its claims hold and the answer is right;
        another step is good when its claims hold, are not all repeats of earlier ones (saying again what was
        said is no progress: 0.0) and, where the task knows its solution's values, arrive at one of them (a true
        calculation this problem does not need is no progress either: 0.0)."""
        if self.outcome is not None:
            return float(self.verdict != "false" and self.outcome.correct)
        if (self.repeated or self.off_path) and self.verdict == "true":
            return 0.0
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


def repeated_claims(texts: list[str]) -> list[bool]:
    """For each step of one response (its texts, in order): True when it makes at least one claim and every
    claim it makes, in normal form (`verifiers._math_steps.claim_keys`: `7 + 4 = 11` is `11 = 4 + 7`), was made
    by an earlier step. A step that adds one new claim to old ones is progress; one with no claim is not a repeat."""
    from verifiers._math_steps import claim_keys

    seen: set[str] = set()
    repeated = []
    for text in texts:
        keys = claim_keys(text)
        repeated.append(bool(keys) and keys <= seen)
        seen |= keys
    return repeated


def mark_repeats(steps: list[StepOutcome], response: str) -> list[StepOutcome]:
    """The rule's verdicts on `response`'s steps (`verifiers.math.check_steps`) with each step's `repeated` set, so
    that a true step saying again what an earlier one said is labelled 0.0 (the final step keeps its outcome)."""
    flags = repeated_claims([response[s.start : s.end] for s in steps])
    return [replace(step, repeated=flag) for step, flag in zip(steps, flags)]


def mark_off_path(steps: list[StepOutcome], response: str, path: list[str]) -> list[StepOutcome]:
    """`steps` (the rule's verdicts on `response`) with `off_path` set on each true step before the last whose
    claims arrive at values (`verifiers._math_steps.step_results`) none of which is in `path`, the values an
    honest solution computes (`orchestration.multistep`: `(6 + 4) * 9` has [10, 90]). `10 * 2 = 20` there is
    true arithmetic but not this problem's: labelled 0.0 like a repeat. A step whose claims arrive at no plain
    number is left as it is; the last step keeps its outcome. A correct route through other values (`6 * 9 + 4
    * 9`) is marked off the path too: the answer step still pays for it."""
    from verifiers._math_steps import plain_value, step_results

    values = set()
    for value in path:
        number = plain_value(str(value))
        if number is None:
            raise ValueError(f"path value {value!r} is not a plain number")
        values.add(number)
    marked = []
    for k, step in enumerate(steps):
        results = step_results(response[step.start : step.end]) if step.verdict == "true" else []
        off = k < len(steps) - 1 and bool(results) and not values.intersection(results)
        marked.append(replace(step, off_path=off))
    return marked


def progress_rewards(
    rewards: list[float | None], repeated: list[bool], max_rewarded: int | None = None
) -> list[float | None]:
    """One response's step rewards (None: no reward), made to pay for progress, not length. The last step, which
    carries the answer, keeps its reward. Before it:
    - a step that `repeated` earlier claims gets 0.0 in place of a positive reward (the rule's labels already
      say so; this applies the same to a step reward model's scores);
    - only the first `max_rewarded - 1` steps with a positive reward keep it (the last step is the
      `max_rewarded`-th); later ones get None, no reward, so their tokens are credited by the steps after them.
    `max_rewarded` None: no bound. Applying it twice changes nothing. Returns a new list."""
    if len(rewards) != len(repeated):
        raise ValueError(f"{len(rewards)} step rewards but {len(repeated)} repeat flags")
    if max_rewarded is not None and max_rewarded < 1:
        raise ValueError(f"max_rewarded must be >= 1 (the answer step), got {max_rewarded}")
    out, paid = list(rewards), 0
    for k in range(len(out) - 1):
        if out[k] is None or out[k] <= 0:
            continue
        if repeated[k]:
            out[k] = 0.0
        elif max_rewarded is not None and paid >= max_rewarded - 1:
            out[k] = None
        else:
            paid += 1
    return out
