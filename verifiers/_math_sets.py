"""Inequalities against intervals: `x < 3` is `(-\\infty, 3)`. Runs only inside the worker child process.

`sets_equal(gold, pred)` applies when one side is an inequality in one variable (`x < 3`, `3 >= x`,
`1 < x <= 5`, or a list of them, as `x < 1 or x > 3` is normalised to `x < 1, x > 3`) and the other side is
an interval, a union of intervals or inequalities too. Both become sympy sets and are compared as sets;
a pair such as `(1, 2)` counts as an interval only here (elsewhere it is an ordered pair).
"""

from __future__ import annotations

import sympy

_BRACKETS = {"()": (True, True), "[]": (False, False), "[)": (False, True), "(]": (True, False)}
_INEQUALITIES = {"<", ">", "<=", ">="}


def _is_inequality(node) -> bool:
    if node[0] == "and":
        return all(_is_inequality(part) for part in node[1:])
    if node[0] == "list":
        return len(node) > 1 and all(_is_inequality(part) for part in node[1:])
    return node[0] == "rel" and node[1] in _INEQUALITIES and (node[2][0] == "sym") != (node[3][0] == "sym")


def _variables(node) -> set[str]:
    """The names of the variables an inequality (or a chain or list of them) constrains."""
    if node[0] == "rel":
        return {side[1] for side in node[2:] if side[0] == "sym"}
    return set().union(*(_variables(part) for part in node[1:]))


def _half_line(node, build):
    """`x < 3` or `3 > x` as an interval; None when it is not one variable against a number."""
    op, left, right = node[1], node[2], node[3]
    if left[0] != "sym":  # `3 > x` is `x < 3`
        op, left, right = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}[op], right, left
    bound = build(right)
    if not (bound.is_extended_real and bound.is_number):
        return None
    if op in ("<", "<="):
        return sympy.Interval(-sympy.oo, bound, right_open=(op == "<"))
    return sympy.Interval(bound, sympy.oo, left_open=(op == ">"))


def _as_set(node, build):
    """The sympy set a node stands for, or None when it is not an interval, union or inequality."""
    kind = node[0]
    if kind == "seq" and len(node) == 4 and node[1] in _BRACKETS:
        low, high = build(node[2]), build(node[3])
        if not (low.is_number and high.is_number and low.is_extended_real and high.is_extended_real) or \
                not bool(low < high):
            return None
        return sympy.Interval(low, high, *_BRACKETS[node[1]])
    if kind == "rel" and node[1] in _INEQUALITIES:
        return _half_line(node, build)
    if kind == "rel" and node[1] == "in" and node[2][0] == "sym":  # `x \in [2, 5)`
        return _as_set(node[3], build)
    parts = node[1:]
    if kind not in ("union", "and", "list") or not parts:
        return None
    sets = [_as_set(part, build) for part in parts]
    if any(s is None for s in sets):
        return None
    return sympy.Intersection(*sets) if kind == "and" else sympy.Union(*sets)


def sets_equal(gold, pred, build) -> bool | None:
    """Whether two answers are the same set of reals; None when neither is an inequality (not applicable).

    `build` turns a scalar node into a sympy expression (`_math_compare.build`).
    """
    if not (_is_inequality(gold) or _is_inequality(pred)):
        return None
    if _is_inequality(gold) and _is_inequality(pred) and _variables(gold) != _variables(pred):
        return None  # `y > 3` is not `x > 3`
    gold_set, pred_set = _as_set(gold, build), _as_set(pred, build)
    if gold_set is None or pred_set is None:
        return None
    return bool(sympy.Complement(gold_set, pred_set) == sympy.EmptySet
                and sympy.Complement(pred_set, gold_set) == sympy.EmptySet)
