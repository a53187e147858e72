"""In-process verdicts on answer text (private helper of `verifiers.math`): words, multiple-choice letters, plain
numbers and lists of them, decimal commas. Nothing here parses maths; it decides what plain text can decide.
"""

from __future__ import annotations

import re

from verifiers._math_number import Number, numbers_match, parse_number
from verifiers._math_tokens import WORDS

# A run of 4+ letters that is not a function name (nor a `\command` or `\begin{env}` name) is a word:
# such answers are compared as text, since as a product of variables "Mondya" would equal "Monday".
# So are the short answer words yes / no / odd (as products, "Yes" and "yes" would differ).
WORD = re.compile(
    r"(?<![\\A-Za-z{])(?:(?!(?:" + "|".join(sorted(WORDS)) + r")(?![A-Za-z]))[A-Za-z]{4,}"
    r"|(?i:yes|no|odd)(?![A-Za-z]))"
)

# Multiple choice: a gold `C` / `(C)` / `\\textbf{(C)}` is answered by `C`, `(C)` or `(C) 12` (the option's value
# after its letter; no second option may follow, so "(C) 12, (D) 14" is not a choice).
CHOICE = re.compile(r"\(?([A-J])\)?")
CHOSEN = re.compile(r"\(([A-J])\)(?:\s[^,;()]*)?|([A-J])")
# Decimal commas. `1,22` and `1000,99` cannot be thousands (after `normalize`, a comma left between digits is not
# one) and, with no space after the comma, are not written as a list: against a gold that is one number they are
# read as 1.22 and 1000.99. `1,222` is ambiguous and stays one thousand two hundred and twenty-two.
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")
_AMBIGUOUS_COMMA = re.compile(r"-?\d{1,3},\d{3}")


def distinct_values(texts: list[str], rel_tol: float) -> list[str]:
    """Normalised answers with repeats of the same text or the same number (`0.5`, `\\frac{1}{2}`) dropped."""
    if len(texts) == 1:
        return texts
    kept: list[tuple[str, Number | None]] = []
    for text in texts:
        number = parse_number(text)
        if not any(
            text == seen or (number and seen_number and numbers_match(seen_number, number, rel_tol))
            for seen, seen_number in kept
        ):
            kept.append((text, number))
    return [text for text, _ in kept]


def decimal_comma(raw: str, text: str, gold: Number, details: dict) -> str:
    """`1,22` as 1.22 against a one-number gold (see `_DECIMAL_COMMA`); says so when `1,222` was read as thousands."""
    if _DECIMAL_COMMA.fullmatch(text):
        details["decimal_comma"] = f"read {text} with a decimal comma"
        return text.replace(",", ".")
    if _AMBIGUOUS_COMMA.fullmatch(raw) and parse_number(raw.replace(",", ".")).value == gold.value:
        details["decimal_comma"] = f"read {raw} as thousands: a comma before three digits is ambiguous"
    return text


def comma_number(text: str) -> Number | None:
    """`1,22` or `0,111` (a comma that cannot separate thousands) read with a decimal comma, else None."""
    return parse_number(text.replace(",", ".")) if _DECIMAL_COMMA.fullmatch(text) else None


def numeric_list(gold: Number | None, text: str, rel_tol: float) -> bool | None:
    """A list of plain numbers against a single number gold: right only if every item is the gold, else None."""
    parts = text.split(", ")
    if gold is None or len(parts) < 2:
        return None
    numbers = [parse_number(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    return all(numbers_match(gold, number, rel_tol) for number in numbers)
