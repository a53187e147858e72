"""Claims inside one reasoning step, and their truth (private helper of `verifiers.math.check_steps`).

A claim is an equality chain written in the step, `a = b` or `a = b = c` (each adjacent pair is checked).
Its sides are read with a linear scan for arithmetic: numbers, `+ - * / ^ × · ÷ \\times \\cdot \\div`,
parentheses, `\\frac{p}{q}`, and single-letter variables (`3x`); prose around a chain is not part of it
("First, 5 + 3 = 8, so" claims `5 + 3 = 8`). Each side is parsed by the whitelist parser (`_math_parse`,
never `eval`), refused if it would build huge numbers (`_math_guard`), and, when it is plain arithmetic,
evaluated exactly with `Fraction`s in-process; anything else (roots, functions) is compared by the sympy
worker under its time limit. A side with a variable is checked only after substituting a known value for it
(the gold answer of a "solve for x" task); otherwise the claim is an equation, not an identity, and cannot
be judged by rule.
"""

from __future__ import annotations

import re
import time
from fractions import Fraction

from verifiers._math_guard import guard
from verifiers._math_parse import parse
from verifiers._math_tokens import ParseError, TooLarge, VerifierTimeout

MAX_STEP_CHARS = 400  # a step is read up to here: hostile text stays bounded
MAX_CLAIMS = 8  # equalities checked per step
_MAX_EXPONENT = 64

_ATOM = (
    r"(?:\\frac\{\d{1,12}\}\{\d{1,12}\}|\\sqrt\{\d{1,12}\}|\d{1,12}(?:\.\d{1,12})?(?:[a-z](?![A-Za-z]))?"
    r"|(?<![A-Za-z\\])[a-z](?![A-Za-z]))"
)
_OP = r"(?:[-+*/×·÷^]|\\times|\\cdot|\\div)"
# Every run of blanks has one place it can go (after an opening bracket, a minus, an operator, before a closing
# bracket or an operator): a pattern with two optional blank runs side by side backtracks exponentially.
_UNIT = rf"(?:[(\[{{][ \t]*)*(?:-[ \t]*)?{_ATOM}(?:[ \t]*[)\]}}])*"  # an operand, in brackets or braces
_SIDE = rf"{_UNIT}(?:[ \t]*{_OP}[ \t]*{_UNIT})*"
_CHAIN = re.compile(rf"(?<![\d.,]){_SIDE}(?:[ \t]*=[ \t]*{_SIDE})+(?!\d|\.\d)")
_CONTINUES = re.compile(r"(?:\d[.,]|(?:[=^*/+\-×·÷:]|\\times|\\cdot|\\div)[ \t]*)$")  # what a chain would continue
_MARKUP = re.compile(r"\\boxed\s*\{([^{}]{0,80})\}|\$|\\[()\[\]]|\*\*")


def _clean(text: str) -> str:
    """`\\boxed{20}` -> `20`; `$`, `\\(`, `\\)`, `**` go; only the first MAX_STEP_CHARS characters are read."""
    return _MARKUP.sub(lambda m: m.group(1) or " ", text[:MAX_STEP_CHARS])


def chains(step: str) -> list[list[str]]:
    """The equality chains of a step, each as its sides in order (prose around them left out)."""
    found, text = [], _clean(step)
    for match in _CHAIN.finditer(text):
        if _CONTINUES.search(text, 0, match.start()):
            continue  # the tail of a longer expression (`1,000 + 1 = 1001` read from its `1`): not a claim
        sides = [side.strip() for side in match.group(0).split("=")]
        if len(sides) >= 2 and all(_balanced(side) for side in sides):
            found.append(sides)
    return found


def plain_value(text: str) -> Fraction | None:
    """The exact value of `text` when it is a plain number (`42`, `-3.5`, `\\frac{3}{4}`), else None. Parsing
    only: nothing is evaluated."""
    from verifiers._math_latex import normalize
    from verifiers._math_number import parse_number

    number = parse_number(normalize(text))
    return None if number is None else Fraction(number.value)


def step_results(step: str) -> list[Fraction]:
    """What each equality chain of a step arrives at: the value of its last side that is a plain number
    (`10 * 2 = 20` -> 20, `2x = 11 - 3 = 8` -> 8); chains with no plain-number side give nothing."""
    results = []
    for sides in chains(step):
        value = next((v for v in map(plain_value, reversed(sides)) if v is not None), None)
        if value is not None:
            results.append(value)
    return results


_ALIASES = {"×": "*", "·": "*", "\\times": "*", "\\cdot": "*", "÷": "/", "\\div": "/"}
_ALIAS = re.compile("|".join(re.escape(alias) for alias in _ALIASES))


def claim_keys(step: str) -> frozenset[str]:
    """The step's claims in a normal form, so that the same claim written again is recognised: each adjacent
    pair of a chain as `side=side` with the two sides in a fixed order (`11 = 4 + 7` is `4 + 7 = 11`), a side's
    sums and products with their terms sorted (`7 + 4` is `4 + 7`), numbers as exact fractions (`0.5` is `1/2`).
    A side the parser refuses is kept as its text without blanks. Whether a claim is true plays no part."""
    keys = set()
    for sides in chains(step):
        normal = [_normal_side(side) for side in sides]
        keys.update("=".join(sorted(pair)) for pair in zip(normal, normal[1:]))
    return frozenset(keys)


def _normal_side(side: str) -> str:
    text = _ALIAS.sub(lambda m: _ALIASES[m.group(0)], side)
    try:
        return _normal_tree(parse(text, deadline=time.monotonic() + 0.1))
    except (ParseError, TooLarge, VerifierTimeout, RecursionError, ValueError):
        return re.sub(r"\s+", "", text)


def _normal_tree(node) -> str:
    kind = node[0]
    if kind == "num":
        return str(Fraction(node[1]))
    if kind == "sym":
        return node[1]
    children = [_normal_tree(child) if isinstance(child, tuple) else str(child) for child in node[1:]]
    if kind in ("add", "mul"):  # the same sum or product whatever the order of its terms
        children.sort()
    return f"{kind}({','.join(children)})"


def _balanced(side: str) -> bool:
    depth = 0
    for ch in side:
        depth += 1 if ch in "([{" else -1 if ch in ")]}" else 0
        if depth < 0:
            return False
    return depth == 0


def _value(node, variables: dict[str, Fraction]) -> Fraction | None:
    """Exact value of an arithmetic tree; None when it holds anything else (then sympy decides)."""
    kind = node[0]
    if kind == "num":
        return Fraction(node[1])
    if kind == "sym":
        return variables.get(node[1])
    if kind == "neg":
        inner = _value(node[1], variables)
        return None if inner is None else -inner
    if kind in ("add", "mul"):
        total = Fraction(0 if kind == "add" else 1)
        for child in node[1:]:
            value = _value(child, variables)
            if value is None:
                return None
            total = total + value if kind == "add" else total * value
        return total
    if kind == "div":
        top, bottom = _value(node[1], variables), _value(node[2], variables)
        if top is None or bottom is None or bottom == 0:
            return None
        return top / bottom
    if kind == "pow":
        base, exponent = _value(node[1], variables), _value(node[2], variables)
        if base is None or exponent is None or exponent.denominator != 1 or abs(exponent) > _MAX_EXPONENT:
            return None
        if base == 0 and exponent < 0:
            return None
        return base ** int(exponent)
    return None


def _symbols(node) -> set[str]:
    if node[0] == "sym":
        return {node[1]}
    found: set[str] = set()
    for child in node[1:]:
        if isinstance(child, tuple):
            found |= _symbols(child)
    return found


def judge_pair(left: str, right: str, variables: dict[str, Fraction], deadline: float, compare) -> str:
    """ "true" | "false" | "unverifiable" for the claim `left = right`. `compare(left, right)` is the sympy path
    for symbol-free sides that are not plain arithmetic: it returns True, False or None (could not decide)."""
    try:
        trees = [parse(side, deadline=deadline) for side in (left, right)]
        for tree in trees:
            guard(tree)
    except (ParseError, TooLarge, VerifierTimeout, RecursionError, ValueError):
        return "unverifiable"
    if any(_symbols(tree) - set(variables) for tree in trees):
        return "unverifiable"  # an equation in an unknown: true for some values, not an identity
    values = [_value(tree, variables) for tree in trees]
    if None not in values:
        return "true" if values[0] == values[1] else "false"
    if any(_symbols(tree) for tree in trees):
        return "unverifiable"
    verdict = compare(left, right)
    return "unverifiable" if verdict is None else ("true" if verdict else "false")
