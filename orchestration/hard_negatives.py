"""Hard negatives without an assistant model: a verified-correct completion rewritten into plausible wrong ones.

Cooper (arXiv 2508.05613) updates its RM online with one contrastive pair per prompt, a verified-correct rollout
against a plausible-but-wrong rewrite of it that the rule confirms wrong; it asks an assistant LLM for the rewrite.
Here the rewrite is a rule: the completion's final answer (an integer, as the rule reads it) is replaced by

    off_by_one       n + 1, n - 1
    digit_swap       its last two digits swapped (63 -> 36; |n| >= 10, distinct digits)
    other_operation  what +, - or * of two of the question's numbers gives instead (9 * 7 -> 16, 2)
    sign             -n

everywhere the completion states it (so `9 * 7 = 63, \\boxed{63}` becomes `9 * 7 = 64, \\boxed{64}`, a consistent
slip, not an inconsistency the RM could learn instead), or only at its last occurrence when that number is also
one of the question's (`12 - 0 = 12`: the operand stays). Every rewrite is checked by `verifiers.math.check`
against the gold answer and kept only when the rule reads the new answer and finds it wrong (`wrong_answer`): a
rewrite the rule would accept (`\\boxed{0.5}` for `1/2`), or one it cannot read, is dropped. A completion whose
final answer is not an integer, or that has none, yields no rewrite.

    rewrite_answers(response, gold, prompt)         -> [HardNegative(response, answer, kind), ...]
    hard_negative_pairs(records, per_positive, rng) -> (PreferencePairs for the RM trainer, count per kind)
    wrong_kind(response, gold, prompt, truncated)   -> the kind of a wrong answer, for reports

The RM trains each pair with a pairwise loss beside its pointwise one (`RMTrainConfig.hard_negative_weight`).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass

from reward_model.data import OutcomeRecord, PreferencePair
from verifiers.math import check, extract_answers

REWRITE_KINDS = ("off_by_one", "digit_swap", "other_operation", "sign")
WRONG_KINDS = ("near_miss", "other_operation", "implausible", "no_answer", "truncated", "non_integer")
_INTEGER = re.compile(r"-?\d+")
_QUESTION_NUMBER = re.compile(r"(?<![\d.])\d+(?!\.?\d)")


@dataclass(frozen=True)
class HardNegative:
    response: str  # the completion with its final answer rewritten
    answer: str  # the new (wrong) answer
    kind: str  # one of REWRITE_KINDS


def as_integer(text: str | None) -> int | None:
    """`text` as an integer when it is one (`63`, `-4`, `1,000`), else None."""
    if text is None:
        return None
    text = text.strip().replace(",", "").replace("{,}", "")
    return int(text) if _INTEGER.fullmatch(text) else None


def question_numbers(prompt: str) -> list[int]:
    """The non-negative integers the question states, in order (at most the first three)."""
    return [int(n) for n in _QUESTION_NUMBER.findall(prompt)][:3]


def other_operation_results(numbers: list[int]) -> list[int]:
    """x + y, x - y, y - x and x * y for every pair of the question's numbers, in a fixed order."""
    results = []
    for i in range(len(numbers)):
        for j in range(i + 1, len(numbers)):
            x, y = numbers[i], numbers[j]
            results += [x + y, x - y, y - x, x * y]
    return list(dict.fromkeys(results))


def digit_swap(n: int) -> int | None:
    """n with its last two digits swapped, or None when that gives n back, a leading zero or |n| < 10."""
    digits = str(abs(n))
    if len(digits) < 2 or digits[-1] == digits[-2] or (len(digits) == 2 and digits[-1] == "0"):
        return None
    swapped = int(digits[:-2] + digits[-1] + digits[-2])
    return -swapped if n < 0 else swapped


def candidates(n: int, numbers: list[int]) -> list[tuple[int, str]]:
    """(wrong value, kind) for answer n, each value once (first kind wins), never n itself."""
    out = [(n + 1, "off_by_one"), (n - 1, "off_by_one")]
    swapped = digit_swap(n)
    if swapped is not None:
        out.append((swapped, "digit_swap"))
    out += [(v, "other_operation") for v in other_operation_results(numbers)]
    if n != 0:
        out.append((-n, "sign"))
    seen, unique = {n}, []
    for value, kind in out:
        if value not in seen:
            seen.add(value)
            unique.append((value, kind))
    return unique


def _occurrences(text: str, n: int) -> list[re.Match]:
    """Where `text` states the integer n as a whole number (not inside 163, 6.3 or -63 for 63)."""
    sign = "-" if n < 0 else "(?<!-)"
    return list(re.finditer(rf"(?<![\d.]){sign}{abs(n)}(?!\.?\d)", text))


def _replace(text: str, n: int, value: int, last_only: bool) -> str | None:
    matches = _occurrences(text, n)
    if not matches:
        return None
    for match in (matches[-1:] if last_only else matches)[::-1]:
        text = text[: match.start()] + str(value) + text[match.end() :]
    return text


def rewrite_answers(
    response: str,
    gold: str,
    prompt: str,
    *,
    fallback_last_number: bool = True,
    complete: bool = True,
    timeout: float = 5.0,
) -> list[HardNegative]:
    """Every rule-confirmed wrong rewrite of `response`'s final answer (module docstring), at most one per value.
    `response` should be a verified-correct completion; `complete`: it ended on its own (as `check` reads it)."""
    answers = extract_answers(response, fallback_last_number=fallback_last_number, complete=complete).items
    n = as_integer(answers[-1]) if len(answers) == 1 else None
    if n is None:
        return []
    numbers = question_numbers(prompt)
    last_only = abs(n) in numbers
    rewrites = []
    for value, kind in candidates(n, numbers):
        text = _replace(response, n, value, last_only)
        if text is None or text == response:
            continue
        outcome = check(text, gold, fallback_last_number=fallback_last_number, complete=complete, timeout=timeout)
        if not outcome.correct and outcome.reason.startswith("wrong_answer"):
            rewrites.append(HardNegative(text, str(value), kind))
    return rewrites


def pick(rewrites: list[HardNegative], k: int, rng: random.Random) -> list[HardNegative]:
    """Up to k rewrites, spread over the kinds: one of each kind in a shuffled kind order, then again."""
    by_kind: dict[str, list[HardNegative]] = {}
    for rewrite in rewrites:
        by_kind.setdefault(rewrite.kind, []).append(rewrite)
    for options in by_kind.values():
        rng.shuffle(options)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    chosen = []
    while len(chosen) < k and any(by_kind.values()):
        for kind in kinds:
            if by_kind[kind] and len(chosen) < k:
                chosen.append(by_kind[kind].pop())
    return chosen


def hard_negative_pairs(
    records: list[OutcomeRecord], per_positive: int, rng: random.Random, *, fallback_last_number: bool = True
) -> tuple[list[PreferencePair], Counter]:
    """Up to `per_positive` (correct response, rewrite) pairs for each verified-correct record with a reference
    (its gold answer); and how many of each kind. Records without a reference (no gold) give none."""
    pairs, kinds = [], Counter()
    for record in records:
        if record.outcome < 1.0 or not record.reference or per_positive < 1:
            continue
        rewrites = rewrite_answers(
            record.response, record.reference, record.prompt, fallback_last_number=fallback_last_number
        )
        for rewrite in pick(rewrites, per_positive, rng):
            pairs.append(PreferencePair(record.prompt, record.response, rewrite.response, record.reference))
            kinds[rewrite.kind] += 1
    return pairs, kinds


def wrong_kind(response: str, gold: str, prompt: str, truncated: bool) -> str:
    """What kind of wrong answer `response` gives (one of WRONG_KINDS), for reports by kind: truncated (cut at the
    token limit), no_answer, non_integer (the answer or the gold is not an integer), near_miss (within 2 of the gold,
    10 off (a carry), its last two digits swapped, or its sign flipped), other_operation (what another operation on
    the question's numbers gives), implausible (any other integer)."""
    if truncated:
        return "truncated"
    answers = extract_answers(response, fallback_last_number=True, complete=True).items
    if not answers:
        return "no_answer"
    n, g = as_integer(answers[-1]), as_integer(gold)
    if n is None or g is None:
        return "non_integer"
    if abs(n - g) <= 2 or abs(n - g) == 10 or n == -g or digit_swap(g) == n:
        return "near_miss"
    if n in other_operation_results(question_numbers(prompt)):
        return "other_operation"
    return "implausible"
