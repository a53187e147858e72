"""Math verifier: extract the final answer from a model response and decide if it equals the gold answer.

    from verifiers.math import check, check_batch, extract_answer
    check("... so the total is \\\\boxed{\\\\frac{3}{4}}.", "0.75")   # Outcome(correct=True, score=1.0, ...)

Model output is hostile input, and this module never executes it:
1. `extract_answers` finds what the response commits to with linear-time scans (`_math_extract`):
   boxes (unless "The final answer is ..." follows the last one), else `####` / "The answer is", else the
   final-statement fallback; never inside `<think>`, never after a chat template's stop marker.
2. `normalize` rewrites presentation markup (`_math_latex`); plain numbers are compared as exact
   `Fraction`s in-process (`_math_number`): the common RL case costs microseconds and never touches sympy.
3. Anything else is parsed by a whitelist tokenizer and recursive-descent parser into a tuple tree
   (`_math_parse`, never `sympify`/`parse_expr`, which `eval`), refused if it would build huge numbers
   (`_math_guard`), and compared with sympy in a child process killed at the time limit (`_math_worker`).

A policy under RL learns whatever the verifier accepts, so these rules close the easy exploits:
- Hedging. Several different final answers (`\\boxed{3}` ... `\\boxed{4}`, "3 or 4", "either 3 or 4", or
  "The answer is 3." then "The answer is 4.") are read as ONE list answer: wrong against a single gold,
  even when one of them is right. Boxes with the same value (`\\boxed{0.5}`, `\\boxed{\\frac12}`) count once;
  more than `MAX_ANSWERS` boxes are wrong outright.
- Separate boxes against a list gold. `\\boxed{2}` and `\\boxed{3}` read as `2, 3` in the order written, then
  compared as any list answer is: with a bare list gold (`2, 3`) or a set (`\\{2, 3\\}`) in any order; with
  an ordered pair `(2, 3)` in order; never with an interval.
- A gold with several boxes (`$\\boxed{1}$ and $\\boxed{2}$`) is one answer made of all of them: every part
  must be there, in any order.
- The last-number fallback (`fallback_last_number`, on by default because small policies often end
  with "3 + 4 = 7." and no box) reads only the final statement of a response that visibly ends, never
  a think block nor an operand of a computation, never a number out of a relation (`x <= 5` is a relation,
  not 5), a hedge ("x = 3 or x = 4"), a list ("2 and 3") or a circumstance ("after giving away 3"); rules
  in `_math_fallback`, threats in tests/verifiers/test_math_threats.py. The online loop can turn it off
  through its config.
- Decimal commas. `1,22` and `1000,99` are 1.22 and 1000.99 against a gold that is one number (the comma can
  be neither a thousands separator nor a list's); `1,222` is 1222, and a wrong verdict says it was read so.
- Tolerance. A decimal matches an exact value only if it is that value rounded or truncated to the
  digits written and within `rel_tol` (1e-6) relative: 12.49 is not 12.50, 1.0000001 is not 1, 0.333
  is not 1/3, 0.3333333 is (`_math_number`).

`check` never raises on model output; it returns an `Outcome` whose `reason` starts with one of
`correct`, `wrong_answer`, `no_answer`, `parse_error`, `too_large`, `timeout`, `compare_error` (verdicts on
the response; a `timeout` is a hostile or too-hard answer, not a fault), or `internal_error` (the verifier
itself failed: a bug, or a sympy worker that died or could not start; the response was not judged).
`POOL.memory_limit_error` (also in `Outcome.details`) says when the workers run without their memory limit.
"""

from __future__ import annotations

import functools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from verifiers._math_extract import MAX_ANSWER_CHARS, MAX_ANSWERS, Answers, extract_answer, extract_answers, gold_boxes
from verifiers._math_guard import guard
from verifiers._math_latex import normalize, strip_variable
from verifiers._math_number import Number, numbers_match, parse_number
from verifiers._math_parse import parse
from verifiers._math_text import CHOICE, CHOSEN, WORD, comma_number, decimal_comma, distinct_values, numeric_list
from verifiers._math_tokens import ParseError, TooLarge, VerifierTimeout
from verifiers._math_worker import POOL
from verifiers.outcome import Outcome
from verifiers.steps import StepOutcome, segment

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "POOL",
    "StepOutcome",
    "VerifierTimeout",
    "check",
    "check_batch",
    "check_steps",
    "extract_answer",
    "extract_answers",
    "shutdown_workers",
]

DEFAULT_TIMEOUT_S = 3.0
DEFAULT_REL_TOL = 1e-6
_SHOWN_CHARS = 200  # how much of an answer goes into `reason`/`details`


@dataclass(frozen=True)
class _Gold:
    text: str  # normalised
    number: Number | None
    tree: Any  # None when the gold does not parse (then only a text match can succeed)


@dataclass
class _Pending:
    """A check that needs sympy: both trees, and what to report."""

    gold_tree: Any
    pred_tree: Any
    details: dict
    budget_s: float  # time left for the comparison once a worker takes it (queueing is not counted)


@functools.lru_cache(maxsize=4096)  # the loop checks k responses against the same gold
def _prepare_gold(gold: str) -> _Gold:
    if "\\boxed" in gold or "\\fbox" in gold:  # several boxes are one answer made of all of them
        gold = gold_boxes(gold) or gold
    text = normalize(gold)
    try:
        tree = parse(text, deadline=time.monotonic() + 10.0)
        guard(tree)
    except (ParseError, TooLarge):
        tree = None
    return _Gold(text, parse_number(text), tree)


def _outcome(correct: bool, reason: str, details: dict, start: float) -> Outcome:
    details["elapsed_s"] = round(time.monotonic() - start, 6)
    return Outcome(correct=correct, score=1.0 if correct else 0.0, reason=reason, details=details)


def _wrong(details: dict, start: float) -> Outcome:
    several = "several different answers: " if details.get("answers", 1) > 1 else ""
    reason = f"wrong_answer: {several}got {details['extracted'][:60]!r}, expected {details['gold'][:60]!r}"
    if "decimal_comma" in details:
        reason += f" ({details['decimal_comma']})"
    return _outcome(False, reason, details, start)


def _read_answers(response: str, extract: bool, fallback_last_number: bool, complete: bool) -> Answers:
    text = response if isinstance(response, str) else ""
    if not extract:
        return Answers((text.strip()[: MAX_ANSWER_CHARS + 1],) if text.strip() else ())
    return extract_answers(text, fallback_last_number=fallback_last_number, complete=complete)


def _host_stage(
    response: str,
    gold: str,
    *,
    timeout: float,
    extract: bool,
    rel_tol: float,
    fallback_last_number: bool,
    complete: bool,
    start: float,
) -> Outcome | _Pending:
    """Everything that is cheap and safe in-process; returns a verdict or the sympy job still to do."""
    gold = str(gold)
    details = {"gold": gold[:_SHOWN_CHARS], "extracted": None, "method": None}
    answers = _read_answers(response, extract, fallback_last_number, complete)
    if answers.excess:
        return _outcome(False, f"wrong_answer: more than {MAX_ANSWERS} boxed answers", details, start)
    if not answers.items:
        return _outcome(False, "no_answer", details, start)
    details["extracted"] = ", ".join(answers.items)[:_SHOWN_CHARS]
    expected = _prepare_gold(gold)
    texts = [normalize(answer) for answer in answers.items]
    if "=" not in expected.text:
        texts = [strip_variable(text) for text in texts]
    texts = distinct_values(texts, rel_tol)
    if len(texts) > 1:
        details["answers"] = len(texts)
    elif expected.number is not None:
        texts = [decimal_comma(answers.items[0].strip(" $"), texts[0], expected.number, details)]
    return _judge(expected, ", ".join(texts), details, rel_tol=rel_tol, deadline=start + timeout, start=start)


def _judge(
    expected: _Gold, text: str, details: dict, *, rel_tol: float, deadline: float, start: float
) -> Outcome | _Pending:
    """Compare a normalised answer with the gold: as text, as plain numbers, or (returned) as a sympy job."""
    verdict = numeric_list(expected.number, text, rel_tol)
    if verdict is not None:
        details["method"] = "numeric"
        return _outcome(True, "correct", details, start) if verdict else _wrong(details, start)
    gold_text = strip_variable(expected.text) if "=" not in text else expected.text
    if (choice := CHOICE.fullmatch(gold_text)) and (chosen := CHOSEN.fullmatch(text)):
        details["method"] = "choice"
        correct = (chosen[1] or chosen[2]) == choice[1]
        return _outcome(True, "correct", details, start) if correct else _wrong(details, start)
    if text == gold_text:
        details["method"] = "text"
        return _outcome(True, "correct", details, start)
    if WORD.search(gold_text) or WORD.search(text):
        details["method"] = "text"
        correct = text.casefold().replace(" ", "") == gold_text.casefold().replace(" ", "")
        return _outcome(True, "correct", details, start) if correct else _wrong(details, start)
    number = parse_number(text)
    gold_number = parse_number(gold_text) if gold_text != expected.text else expected.number
    if number is not None and gold_number is None:  # a gold `1,22` against one number is 1.22 (a list otherwise)
        gold_number = comma_number(gold_text)
    if number is not None and gold_number is not None:
        details["method"] = "numeric"
        correct = numbers_match(gold_number, number, rel_tol)
        return _outcome(True, "correct", details, start) if correct else _wrong(details, start)
    if expected.tree is None:
        details["method"] = "text"  # the gold is not maths we can parse: only the exact text can match
        return _wrong(details, start)
    try:
        tree = parse(text, deadline=deadline)
        guard(tree)
    except ParseError as e:
        return _outcome(False, f"parse_error: {e}", details, start)
    except TooLarge as e:
        return _outcome(False, f"too_large: {e}", details, start)
    details["method"] = "sympy"
    return _Pending(expected.tree, tree, details, max(deadline - time.monotonic(), 0.05))


def _sympy_stage(job: _Pending, rel_tol: float, start: float) -> Outcome:
    try:
        reply = POOL.compare(job.gold_tree, job.pred_tree, rel_tol, job.budget_s)
    except VerifierTimeout as e:
        return _outcome(False, f"timeout: {e}", job.details, start)
    if POOL.memory_limit_error:
        job.details["memory_limit_error"] = POOL.memory_limit_error
    if "error" in reply:
        return _outcome(False, f"compare_error: {reply['error']}", job.details, start)
    return _outcome(True, "correct", job.details, start) if reply["equal"] else _wrong(job.details, start)


def _guarded(stage, started: float, *args, **kwargs) -> Outcome | _Pending:
    """Run one stage; model output can make it time out or fail, but never escape as an exception."""
    try:
        return stage(*args, **kwargs)
    except VerifierTimeout as e:
        return _outcome(False, f"timeout: {e}", {"error": str(e)}, started)
    except Exception as e:  # a bug or a dead worker must not take the training loop down
        return _outcome(False, f"internal_error: {type(e).__name__}: {str(e)[:200]}", {}, started)


def check(
    response: str,
    gold: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    extract: bool = True,
    rel_tol: float = DEFAULT_REL_TOL,
    fallback_last_number: bool = True,
    complete: bool = False,
) -> Outcome:
    """Whether the answer in `response` equals `gold`. Never raises; `timeout` bounds the whole check.

    `extract=False` treats `response` as the bare answer. Several different final answers are one list
    answer (wrong against a single gold: no credit for hedging). Two exact values (integers, fractions,
    radicals, expressions) must be exactly equal; a decimal must be within `rel_tol` (relative) and, when
    it is a bare number, the exact value rounded or truncated to its digits (so 1234568.0 is not 1234567).

    `fallback_last_number=True` (the default for this Python API, since small policies often answer
    "3 + 4 = 7." without a box) lets a response with no box and no "The answer is" be judged by the
    number or maths its final statement commits to; a response that stops mid-sentence or
    mid-computation, or answers only inside `<think>`, still has no answer. Pass False to demand an
    explicit answer (the online loop exposes this as a config key). `complete=True` says the response
    ended on its own (its end-of-sequence token, not a length limit), so a final `11 + 4 = 15` without a
    full stop counts as finished (the loop passes it for every completion that was not truncated).
    """
    start = time.monotonic()
    result = _guarded(
        _host_stage,
        start,
        response,
        gold,
        timeout=timeout,
        extract=extract,
        rel_tol=rel_tol,
        fallback_last_number=fallback_last_number,
        complete=complete,
        start=start,
    )
    if isinstance(result, _Pending):
        result = _guarded(_sympy_stage, start, result, rel_tol, start)
    return result


def check_batch(
    responses: list[str],
    golds: list[str],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_workers: int | None = None,
    extract: bool = True,
    rel_tol: float = DEFAULT_REL_TOL,
    fallback_last_number: bool = True,
    complete: bool | list[bool] = False,
) -> list[Outcome]:
    """`check` over many pairs, in input order. Numeric answers are decided in-process; the ones that
    need sympy run concurrently on up to `max_workers` child processes (default: the CPU count).
    `complete` is one flag for all responses or one per response."""
    if len(responses) != len(golds):
        raise ValueError(f"check_batch: {len(responses)} responses but {len(golds)} golds; pass one gold per response")
    completes = [complete] * len(responses) if isinstance(complete, bool) else list(complete)
    if len(completes) != len(responses):
        raise ValueError(f"check_batch: {len(responses)} responses but {len(completes)} complete flags")
    results: list[Outcome | _Pending] = []
    starts = []
    for response, gold, ended in zip(responses, golds, completes):
        starts.append(time.monotonic())
        results.append(
            _guarded(
                _host_stage,
                starts[-1],
                response,
                gold,
                timeout=timeout,
                extract=extract,
                rel_tol=rel_tol,
                fallback_last_number=fallback_last_number,
                complete=ended,
                start=starts[-1],
            )
        )
    pending = [i for i, result in enumerate(results) if isinstance(result, _Pending)]
    workers = max(1, min(len(pending), max_workers or os.cpu_count() or 1))
    if workers == 1:
        for i in pending:
            results[i] = _guarded(_sympy_stage, starts[i], results[i], rel_tol, starts[i])
        return results
    with ThreadPoolExecutor(workers, thread_name_prefix="math-verifier") as executor:
        futures = {
            i: executor.submit(_guarded, _sympy_stage, starts[i], results[i], rel_tol, starts[i]) for i in pending
        }
        for i, future in futures.items():
            results[i] = future.result()
    return results


def check_steps(
    response: str,
    gold: str | None = None,
    *,
    mode: str = "lines",
    substitute: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    fallback_last_number: bool = True,
    complete: bool = False,
) -> list[StepOutcome]:
    """Each step of `response` (`verifiers.steps.segment`, `mode`) judged by the claims it makes.

    A step is "true" when every equality it writes (`8 * 3 = 24`, chains `a = b = c`) holds, "false" when one
    does not, "unverifiable" when it makes none this can check (prose, an equation in an unknown). With
    `substitute` ({"x": "5"}: the known solution of a "solve for x" task) an equation is checked after
    substitution, so `3x + 4 = 19` is true and `3x = 16` false. With a `gold`, the final step also carries the
    outcome check of the whole response (`check`), and its `label` needs both. Never raises on model text;
    `timeout` bounds the whole call (claims left when it runs out are unverifiable)."""
    from verifiers._math_steps import MAX_CLAIMS, chains, judge_pair, plain_value

    start = time.monotonic()
    deadline = start + timeout
    values = {name: plain_value(str(value)) for name, value in (substitute or {}).items()}
    variables = {name: value for name, value in values.items() if value is not None}

    def compare(left: str, right: str) -> bool | None:
        left_over = deadline - time.monotonic()
        if left_over <= 0.05:
            return None
        verdict = check(right, left, extract=False, timeout=left_over, fallback_last_number=False)
        return True if verdict.correct else False if verdict.reason.startswith("wrong_answer") else None

    judged = []
    try:
        steps = segment(response, mode)
    except Exception:  # noqa: BLE001 - hostile text must not raise; a step list is all or nothing
        steps = []
    for step in steps:
        verdict, claims, reason = "unverifiable", 0, "no claim to check"
        for sides in chains(step.text):
            for left, right in zip(sides, sides[1:]):
                if claims >= MAX_CLAIMS or time.monotonic() > deadline:
                    break
                try:
                    result = judge_pair(left, right, variables, deadline, compare)
                except Exception as e:  # noqa: BLE001 - a bug here must not take the loop down
                    result, reason = "unverifiable", f"internal_error: {type(e).__name__}: {str(e)[:80]}"
                if result == "unverifiable":
                    continue
                claims += 1
                if result == "false" and verdict != "false":
                    verdict, reason = "false", f"{left} = {right} is false"[:_SHOWN_CHARS]
                elif result == "true" and verdict == "unverifiable":
                    verdict, reason = "true", "every claim holds"
        judged.append(StepOutcome(step.start, step.end, verdict, claims, reason))
    if gold is not None and judged:
        left_over = max(deadline - time.monotonic(), 0.05)
        final = check(response, gold, timeout=left_over, fallback_last_number=fallback_last_number, complete=complete)
        judged[-1] = replace(judged[-1], outcome=final)
    return judged


def shutdown_workers() -> None:
    """Stop the idle sympy worker processes now (they also stop at exit, and restart on the next need)."""
    POOL.shutdown()
