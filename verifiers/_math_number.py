"""The sympy-free numeric fast path: read a plain number exactly, and the tolerance rule for decimals.

`parse_number` reads the common RL answer (an integer, decimal, fraction, mixed number, percentage or
scientific notation such as `6.02e23` / `6.02*10^{23}`) from a `normalize`d answer into an exact
`Fraction`. `numbers_match` applies the tolerance rule that the sympy worker applies too:

    a decimal matches an exact value when it is that value rounded (to within half a unit of its last
    written digit) or truncated toward zero to the digits written, AND it is within `rel_tol` (1e-6)
    relative. So 0.6666667 and 0.6666666 are 2/3, but 0.333 is not 1/3 (too few digits for 1e-6),
    12.49 is not 12.50 and 1.0000001 is not 1.

Everything here is a regex without nested quantifiers plus `Fraction` arithmetic on bounded numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_NUMBER_DIGITS = 400  # the fast path never builds larger numbers (and stays under int's str limit)


@dataclass(frozen=True)
class Number:
    value: Fraction
    exact: bool  # False when written as a decimal: compared with a tolerance (see `numbers_match`)
    percent: bool  # written with `%`: may stand for value/100
    places: int = 0  # digits written after the decimal point; negative in `6.02e23` (last digit is 10^21)


_DECIMAL = r"(\d+(?:\.\d*)?|\.\d+)"
_PLAIN = re.compile(r"([+-]?)\s*" + _DECIMAL)
_SLASH = re.compile(r"([+-]?)\s*\(?(\d+)\)?/\(?(\d+)\)?")
_FRAC = re.compile(r"([+-]?)\s*\\frac\{([+-]?)(\d+)\}\{(\d+)\}")
_MIXED = re.compile(r"([+-]?)\s*(\d+)(?: |\\frac\{)(\d+)(?:/|\}\{)(\d+)\}?")
# `6.02e23`, `6.02*10^{23}` (`\times`, `\cdot` and `×` are `*` after normalize), `6.02 x 10^23`, `10^{-3}`.
_SCIENTIFIC = re.compile(
    r"([+-]?)\s*(?:" + _DECIMAL + r"\s*(?:[eE]|(?:\*|\s+x\s+)\s*10\s*\^)|10\s*\^)"
    r"\s*\{?\s*([+-]?\d{1,4})\s*\}?"
)


def _places(digits: str) -> int:
    return len(digits.split(".", 1)[1]) if "." in digits else 0


def _scientific(m: re.Match) -> tuple[Fraction, bool, int] | None:
    mantissa, exponent = m[2] or "1", int(m[3])
    if abs(exponent) > MAX_NUMBER_DIGITS:
        return None
    value = Fraction(mantissa) * Fraction(10) ** exponent
    return value, "." not in mantissa, _places(mantissa) - exponent


def parse_number(s: str) -> Number | None:
    """A plain number (`42`, `-3.5`, `3/4`, `\\frac{3}{4}`, `2\\frac{1}{2}`, `2 1/2`, `25%`, `6.02e23`), else None."""
    if len(s) > MAX_NUMBER_DIGITS:
        return None
    percent = s.endswith("%")
    if percent:
        s = s[:-1].rstrip()
    sign, value, exact, places = 1, None, True, 0
    if m := _PLAIN.fullmatch(s):
        sign, value, exact, places = (-1 if m[1] == "-" else 1), Fraction(m[2]), "." not in m[2], _places(m[2])
    elif (m := _SLASH.fullmatch(s)) and int(m[3]) != 0:
        sign, value = (-1 if m[1] == "-" else 1), Fraction(int(m[2]), int(m[3]))
    elif (m := _FRAC.fullmatch(s)) and int(m[4]) != 0:
        sign = (-1 if m[1] == "-" else 1) * (-1 if m[2] == "-" else 1)
        value = Fraction(int(m[3]), int(m[4]))
    elif (m := _MIXED.fullmatch(s)) and 0 < int(m[3]) < int(m[4]) and ("\\frac{" in s) == s.endswith("}"):
        # A mixed number only when unambiguous: a proper fraction after a whole number.
        sign, value = (-1 if m[1] == "-" else 1), int(m[2]) + Fraction(int(m[3]), int(m[4]))
    elif (m := _SCIENTIFIC.fullmatch(s)) and (parts := _scientific(m)):
        sign, (value, exact, places) = (-1 if m[1] == "-" else 1), parts
    if value is None:
        return None
    return Number(sign * value, exact, percent, places)


def decimal_agrees(exact: Fraction, decimal: Fraction, ulp: Fraction) -> bool:
    """Whether `decimal` (whose last written digit is worth `ulp`) is `exact` rounded or truncated toward zero."""
    diff = abs(exact - decimal)
    if 2 * diff <= ulp:
        return True  # rounded: within half a unit of the last digit
    return diff < ulp and abs(decimal) < abs(exact) and (decimal >= 0) == (exact > 0)


def _candidates(number: Number) -> list[tuple[Fraction, Fraction | None]]:
    """(value, unit in the last written decimal place or None if exact); `25%` stands for 25 or 25/100."""
    ulp = None if number.exact else Fraction(10) ** -number.places
    out = [(number.value, ulp)]
    if number.percent:
        out.append((number.value / 100, None if ulp is None else ulp / 100))
    return out


def numbers_match(gold: Number, pred: Number, rel_tol: float) -> bool:
    """Exactly equal, or (a decimal on either side) `decimal_agrees` and within `rel_tol` relative.

    When both are decimals the prediction is read against the gold's value. 0.3333333333 is 1/3, but
    1234568.0 is not 1234567 (though within 1e-6), nor is 1.0000001 equal to 1.
    """
    for g, gold_ulp in _candidates(gold):
        for p, pred_ulp in _candidates(pred):
            if g == p:
                return True
            if pred_ulp is not None:
                agrees = decimal_agrees(g, p, pred_ulp)
            elif gold_ulp is not None:
                agrees = decimal_agrees(p, g, gold_ulp)
            else:
                continue  # two exact values: no tolerance at all
            if agrees and abs(g - p) <= Fraction(rel_tol) * max(abs(g), abs(p)):
                return True
    return False
