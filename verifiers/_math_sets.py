"""Inequalities: against each other (`-x > -1` is `x < 1`) and against intervals (`x < 3` is `(-\\infty, 3)`).
Runs only inside the worker child process.

`inequalities_equal(gold, pred)` compares two inequalities as relations: the same up to a constant factor,
flipped when the factor is negative.

`sets_equal(gold, pred)` applies when one side is an inequality in one variable (`x < 3`, `3 >= x`, `-x > -1`,
`x^2 < 4`, `1 < x <= 5`, `0 < f(x) < 1`, or a list of them, as `x < 1 or x > 3` is normalised to
`x < 1, x > 3`) and the other side is an interval, a union of intervals or inequalities too. Both become sympy
sets (an inequality is solved over the reals for its variable) and are compared as sets; a pair such as `(1, 2)`
counts as an interval only here (elsewhere it is an ordered pair).
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
    return node[0] == "rel" and node[1] in _INEQUALITIES and len(_variables(node)) == 1


def _variables(node) -> set[str]:
    """The names of the variables an inequality (or a chain or list of them, or any subtree) holds."""
    if node[0] == "sym":
        return {node[1]}
    return set().union(*(_variables(part) for part in node[1:] if isinstance(part, (list, tuple))))


def _half_line(node, build):
    """The real solutions of a one-variable inequality (`x < 3`, `-x >= -1`, `x^2 < 4`) as a set; None when sympy
    cannot solve it into intervals."""
    (name,) = _variables(node)
    relation = {"<": sympy.Lt, ">": sympy.Gt, "<=": sympy.Le, ">=": sympy.Ge}[node[1]]
    variable = sympy.Symbol(name)
    left, right = build(node[2]), build(node[3])
    if left.free_symbols | right.free_symbols != {variable}:
        return None  # `e` or `i` are constants, not the variable
    solved = sympy.solveset(relation(left, right), variable, domain=sympy.S.Reals)
    return solved if isinstance(solved, (sympy.Interval, sympy.Union)) or solved == sympy.EmptySet else None


def _as_set(node, build):
    """The sympy set a node stands for, or None when it is not an interval, union or inequality."""
    kind = node[0]
    if kind == "seq" and len(node) == 4 and node[1] in _BRACKETS:
        low, high = build(node[2]), build(node[3])
        if not (low.is_number and high.is_number and low.is_extended_real and high.is_extended_real) or not bool(
            low < high
        ):
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
    return bool(
        sympy.Complement(gold_set, pred_set) == sympy.EmptySet
        and sympy.Complement(pred_set, gold_set) == sympy.EmptySet
    )


def inequalities_equal(gold, pred, build) -> bool:
    """`l1 < r1` and `l2 > r2` are the same inequality when l1 - r1 = c (l2 - r2): c > 0 with the same relation, or
    c < 0 with the flipped one (`-x > -1` is `x < 1`, `2x <= 2` is `x <= 1`)."""
    d1 = build(gold[2]) - build(gold[3])
    d2 = build(pred[2]) - build(pred[3])
    if d2 == 0:
        return False
    ratio = sympy.simplify(d1 / d2)
    if not (ratio.is_number and ratio.is_real and ratio.is_finite and ratio != 0):
        return False
    return pred[1] == (gold[1] if ratio > 0 else {"<": ">", ">": "<", "<=": ">=", ">=": "<="}[gold[1]])
