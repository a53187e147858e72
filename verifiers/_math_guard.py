"""Refuse parsed answers whose value would be astronomically large, before sympy ever sees them.

`guard(tree)` walks a `_math_parse` tree and bounds log10 |value| of every numeric sub-expression.
A power, factorial or exponential whose result would have more than `MAX_RESULT_DIGITS` digits, or a
symbolic base raised to a huge numeric power (which `expand` would blow up), raises `TooLarge`.
The bound is a cheap over-estimate; the worker's hard time limit remains the backstop.
"""

from __future__ import annotations

import math

from verifiers._math_tokens import TooLarge

MAX_RESULT_DIGITS = 10_000  # a power or factorial whose value would have more digits is refused
MAX_SYMBOLIC_EXPONENT = 1000  # (x+1)^100000 would make expand/simplify blow up

_CONTAINERS = {"list", "set", "seq", "union", "matrix", "row", "rel", "and"}


def _number_magnitude(text: str) -> float:
    """log10 |value| for literals (0 for values below 1); the digit count for long ones."""
    whole = text.split(".", 1)[0].lstrip("0")
    if len(whole) <= 15:
        return math.log10(max(float(text), 1.0))
    return float(len(whole))


def _is_trivial_base(node) -> bool:
    """0 and 1 raised to anything stay small."""
    return node[0] == "num" and node[1].lstrip("0").rstrip(".") in ("", "1")


def magnitude(node) -> float | None:
    """Upper bound on log10 |value| of `node`, None when it has free symbols. Raises TooLarge."""
    kind = node[0]
    if kind == "num":
        return _number_magnitude(node[1])
    if kind == "sym":
        return None
    if kind == "const":
        return 1.0
    if kind in _CONTAINERS:
        for child in node[1:]:
            if isinstance(child, tuple):
                magnitude(child)
        return None
    if kind == "fn":
        inner = magnitude(node[2])
        if node[1] in ("exp", "sinh", "cosh") and inner is not None:
            return _power_magnitude(1.0, inner, node)
        return None if inner is None else max(inner, 1.0)
    if kind == "pow":
        return _power(node)
    if kind == "fact":
        return _factorial(node)
    if kind == "binom":
        return _binomial(node)
    if kind == "sum":  # its value depends on the bounds: checked for size, left to the worker's time limit
        for child in node[1:]:
            if isinstance(child, tuple):
                magnitude(child)
        return None
    children = [magnitude(child) for child in node[1:] if isinstance(child, tuple)]
    if any(m is None for m in children):
        return None
    if kind in ("mul", "root", "log"):
        return sum(children)
    if kind == "div":  # |a / b| has no upper bound without a lower bound on |b|: a heuristic, time limit behind it
        return children[0] + 1.0
    if kind in ("add", "pm"):
        return max(children) + math.log10(2.0)
    return children[0]  # neg, pct, abs


def _power_magnitude(base_magnitude: float, exponent_magnitude: float, node) -> float:
    if exponent_magnitude > 8:
        raise TooLarge("exponent too large")
    digits = max(base_magnitude, 1.0) * 10.0**exponent_magnitude
    if digits > MAX_RESULT_DIGITS:
        raise TooLarge(f"power with about {digits:.3g} digits")
    return digits


def _power(node) -> float | None:
    base, exponent = magnitude(node[1]), magnitude(node[2])
    if exponent is None:
        return None
    if base is None:
        if 10.0 ** min(exponent, 8.0) > MAX_SYMBOLIC_EXPONENT:
            raise TooLarge("symbolic power with a huge exponent")
        return None
    if _is_trivial_base(node[1]):
        return 1.0
    return _power_magnitude(base, exponent, node)


def _factorial(node) -> float | None:
    n = magnitude(node[1])
    if n is None:
        return None
    if n > math.log10(MAX_RESULT_DIGITS):  # n! for n > 10^4 has more than ~35,000 digits
        raise TooLarge("factorial too large")
    bound = 10.0**n
    return bound * max(math.log10(bound), 1.0)


def _binomial(node) -> float | None:
    """binom(n, k) <= 2^n: refused when 2^n could have more than MAX_RESULT_DIGITS digits."""
    n, k = magnitude(node[1]), magnitude(node[2])
    if n is None or k is None:
        return None
    if n > 8 or 10.0**n * math.log10(2.0) > MAX_RESULT_DIGITS:
        raise TooLarge("binomial coefficient too large")
    return max(10.0**n * math.log10(2.0), 1.0)


def guard(tree) -> None:
    """Raise TooLarge if evaluating `tree` could build a number with more than MAX_RESULT_DIGITS digits."""
    magnitude(tree)
