"""Math verifier: extract the final answer from a model response and decide if it equals the gold answer.

    from verifiers.math import check, check_batch, extract_answer
    check("... so the total is \\\\boxed{\\\\frac{3}{4}}.", "0.75")   # Outcome(correct=True, score=1.0, ...)

Model output is hostile input, and this module never executes it:
1. `extract_answer` finds the answer with linear-time scans (`_math_extract`).
2. `normalize` rewrites presentation markup; plain numbers are compared as exact `Fraction`s in-process
   (`_math_latex`): the common RL case costs microseconds and never touches sympy.
3. Anything else is parsed by a whitelist tokenizer and recursive-descent parser into a tuple tree
   (`_math_parse`, never `sympify`/`parse_expr`, which `eval`), refused if it would build huge numbers
   (`_math_guard`), and compared with sympy in a child process killed at the time limit (`_math_worker`).
`check` never raises on model output; it returns an `Outcome` whose `reason` starts with one of
`correct`, `wrong_answer`, `no_answer`, `parse_error`, `too_large`, `timeout`, `compare_error`.
"""

from __future__ import annotations

import functools
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from verifiers._math_extract import MAX_ANSWER_CHARS, extract_answer
from verifiers._math_guard import guard
from verifiers._math_latex import Number, normalize, numbers_match, parse_number, strip_variable
from verifiers._math_parse import parse
from verifiers._math_tokens import WORDS, ParseError, TooLarge, VerifierTimeout
from verifiers._math_worker import POOL
from verifiers.outcome import Outcome

__all__ = ["DEFAULT_TIMEOUT_S", "VerifierTimeout", "check", "check_batch", "extract_answer", "shutdown_workers"]

DEFAULT_TIMEOUT_S = 3.0
DEFAULT_REL_TOL = 1e-6
_SHOWN_CHARS = 200  # how much of an answer goes into `reason`/`details`
# A run of 4+ letters that is not a function name (nor a `\command` or `\begin{env}` name) is a word:
# such answers are compared as text, since as a product of variables "Mondya" would equal "Monday".
_WORD = re.compile(r"(?<![\\A-Za-z{])(?!(?:" + "|".join(sorted(WORDS)) + r")(?![A-Za-z]))[A-Za-z]{4,}")


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
    if "\\boxed" in gold or "\\fbox" in gold:
        gold = extract_answer(gold, boxed_only=True) or gold
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
    reason = f"wrong_answer: got {details['extracted'][:60]!r}, expected {details['gold'][:60]!r}"
    return _outcome(False, reason, details, start)


def _host_stage(response: str, gold: str, *, timeout: float, extract: bool, rel_tol: float,
                fallback_last_number: bool, start: float) -> Outcome | _Pending:
    """Everything that is cheap and safe in-process; returns a verdict or the sympy job still to do."""
    gold = str(gold)
    details = {"gold": gold[:_SHOWN_CHARS], "extracted": None, "method": None}
    answer = response if isinstance(response, str) else ""
    if extract:
        answer = extract_answer(answer, fallback_last_number=fallback_last_number) or ""
    answer = answer.strip()[:MAX_ANSWER_CHARS + 1]
    if not answer:
        return _outcome(False, "no_answer", details, start)
    details["extracted"] = answer[:_SHOWN_CHARS]
    expected = _prepare_gold(gold)
    text = normalize(answer)
    if "=" not in expected.text:
        text = strip_variable(text)
    gold_text = strip_variable(expected.text) if "=" not in text else expected.text
    if text == gold_text:
        details["method"] = "text"
        return _outcome(True, "correct", details, start)
    if _WORD.search(gold_text) or _WORD.search(text):
        details["method"] = "text"
        correct = text.casefold().replace(" ", "") == gold_text.casefold().replace(" ", "")
        return _outcome(True, "correct", details, start) if correct else _wrong(details, start)
    number = parse_number(text)
    gold_number = parse_number(gold_text) if gold_text != expected.text else expected.number
    if number is not None and gold_number is not None:
        details["method"] = "numeric"
        correct = numbers_match(gold_number, number, rel_tol)
        return _outcome(True, "correct", details, start) if correct else _wrong(details, start)
    if expected.tree is None:
        details["method"] = "text"  # the gold is not maths we can parse: only the exact text can match
        return _wrong(details, start)
    try:
        tree = parse(text, deadline=start + timeout)
        guard(tree)
    except ParseError as e:
        return _outcome(False, f"parse_error: {e}", details, start)
    except TooLarge as e:
        return _outcome(False, f"too_large: {e}", details, start)
    details["method"] = "sympy"
    return _Pending(expected.tree, tree, details, max(start + timeout - time.monotonic(), 0.05))


def _sympy_stage(job: _Pending, rel_tol: float, start: float) -> Outcome:
    try:
        reply = POOL.compare(job.gold_tree, job.pred_tree, rel_tol, job.budget_s)
    except VerifierTimeout as e:
        return _outcome(False, f"timeout: {e}", job.details, start)
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


def check(response: str, gold: str, *, timeout: float = DEFAULT_TIMEOUT_S, extract: bool = True,
          rel_tol: float = DEFAULT_REL_TOL, fallback_last_number: bool = True) -> Outcome:
    """Whether the answer in `response` equals `gold`. Never raises; `timeout` bounds the whole check.

    `extract=False` treats `response` as the bare answer. Two exact values (integers, fractions, radicals,
    expressions) must be exactly equal; a decimal must be within `rel_tol` (relative) and, when it is a
    bare number, within one unit of its last written digit (so 1234568.0 is not 1234567).
    """
    start = time.monotonic()
    result = _guarded(_host_stage, start, response, gold, timeout=timeout, extract=extract, rel_tol=rel_tol,
                      fallback_last_number=fallback_last_number, start=start)
    if isinstance(result, _Pending):
        result = _guarded(_sympy_stage, start, result, rel_tol, start)
    return result


def check_batch(responses: list[str], golds: list[str], *, timeout: float = DEFAULT_TIMEOUT_S,
                max_workers: int | None = None, extract: bool = True, rel_tol: float = DEFAULT_REL_TOL,
                fallback_last_number: bool = True) -> list[Outcome]:
    """`check` over many pairs, in input order. Numeric answers are decided in-process; the ones that
    need sympy run concurrently on up to `max_workers` child processes (default: the CPU count)."""
    if len(responses) != len(golds):
        raise ValueError(f"check_batch: {len(responses)} responses but {len(golds)} golds; pass one gold per response")
    results: list[Outcome | _Pending] = []
    starts = []
    for response, gold in zip(responses, golds):
        starts.append(time.monotonic())
        results.append(_guarded(_host_stage, starts[-1], response, gold, timeout=timeout, extract=extract,
                                rel_tol=rel_tol, fallback_last_number=fallback_last_number, start=starts[-1]))
    pending = [i for i, result in enumerate(results) if isinstance(result, _Pending)]
    workers = max(1, min(len(pending), max_workers or os.cpu_count() or 1))
    if workers == 1:
        for i in pending:
            results[i] = _guarded(_sympy_stage, starts[i], results[i], rel_tol, starts[i])
        return results
    with ThreadPoolExecutor(workers, thread_name_prefix="math-verifier") as executor:
        futures = {i: executor.submit(_guarded, _sympy_stage, starts[i], results[i], rel_tol, starts[i])
                   for i in pending}
        for i, future in futures.items():
            results[i] = future.result()
    return results


def shutdown_workers() -> None:
    """Stop the idle sympy worker processes now (they also stop at exit, and restart on the next need)."""
    POOL.shutdown()
