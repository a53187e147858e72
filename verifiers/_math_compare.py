"""Equivalence of two parsed answers with sympy. Runs only inside the worker child process.

Trees come from `_math_parse` (plain tuples/lists, never strings to parse), so nothing here reaches
`eval`. Containers are compared structurally: bare answer lists and unions order-insensitively, sets as sets
(repeats count once; a set against a bare list or a `\\pm` too), tuples/intervals and matrices in order, matrix
arithmetic evaluated (`_math_matrices`); `x = 5`, `AB = 4` or `|AB| = 1` against `5` compares the right-hand
side; `a \\pm b` stands for both answers; a list of answers that all equal a single gold is that answer (the
same value boxed twice); inequalities are compared as relations and against intervals as sets (`_math_sets`).
Scalars are equal when exactly equal or, when either side was written with a decimal point, by the tolerance
rule of `_math_number` (a bare decimal must be the exact value rounded or truncated to its digits, and within
`rel_tol`); symbolic expressions by `expand`, random-point evaluation and `simplify`; sums written alike (the
index renamed) are equal, others by their closed form.
"""

from __future__ import annotations

import random
from fractions import Fraction

import sympy

from verifiers._math_build import build, renamed
from verifiers._math_matrices import has_matrix_arithmetic, matrices_equal
from verifiers._math_number import decimal_agrees
from verifiers._math_sets import inequalities_equal, sets_equal

_UNORDERED = {"list", "set", "union"}
_STRUCTURED = {"list", "set", "union", "seq", "matrix", "rel", "and"}
_FLIPPED = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!=", "in": "in"}
_MAX_ITEMS = 32
_INEQUALITIES = {"<", ">", "<=", ">="}


def _inexact(node) -> bool:
    """Whether the answer was written with a decimal point anywhere (then a tolerance applies)."""
    if node[0] == "num":
        return "." in node[1]
    return any(_inexact(child) for child in node[1:] if isinstance(child, (list, tuple)))


def _literal_ulp(node):
    """One unit in the last place of a bare decimal literal (`-3.50` -> 1/100), else None."""
    if node[0] == "neg":
        node = node[1]
    if node[0] == "num" and "." in node[1]:
        return sympy.Rational(1, 10 ** len(node[1].split(".", 1)[1]))
    return None


def _fraction(value) -> Fraction:
    """Exact for a rational; to 30 significant digits for anything else (pi, sqrt(2))."""
    rational = value if value.is_Rational else sympy.Rational(sympy.N(value, 30))
    return Fraction(int(rational.p), int(rational.q))


def _numbers_close(exact, decimal, tol, ulp=None) -> bool:
    """Relative tolerance `tol`, and (when `decimal` is a bare decimal literal) `decimal_agrees`."""
    va, vb = sympy.N(exact, 30), sympy.N(decimal, 30)
    if not (va.is_number and vb.is_number) or va.has(sympy.nan, sympy.zoo) or vb.has(sympy.nan, sympy.zoo):
        return False
    if ulp is not None and not (
        va.is_real and vb.is_real and decimal_agrees(_fraction(exact), _fraction(decimal), _fraction(ulp))
    ):
        return False
    diff, scale = abs(va - vb), max(abs(va), abs(vb))
    return bool(diff <= tol * scale) if scale != 0 else True


def _random_points_agree(diff, symbols, scale_exprs, tol) -> bool | None:
    """Evaluate `diff` at random points: False if clearly non-zero somewhere, True if ~0 everywhere."""
    rng = random.Random(0)
    agreed = 0
    for trial in range(6):
        # Alternating signs, away from 0: |x| and x, or sqrt(x^2) and x, must differ somewhere.
        point = {
            s: sympy.Rational((-1) ** (trial + j) * rng.randint(30, 250), 100)
            for j, s in enumerate(sorted(symbols, key=str))
        }
        value = sympy.N(diff.subs(point), 30)
        if not value.is_number or value.has(sympy.nan, sympy.zoo):
            continue
        scale = max([abs(sympy.N(e.subs(point), 30)) for e in scale_exprs] + [sympy.Integer(1)])
        if abs(value) > max(tol, sympy.Float("1e-20")) * scale:
            return False
        agreed += 1
    return True if agreed >= 3 else None


def scalars_equal(gold_node, pred_node, rel_tol: float) -> bool:
    if gold_node[0] == pred_node[0] == "sum" and _sums_alike(gold_node, pred_node, rel_tol):
        return True
    gold, pred = build(gold_node), build(pred_node)
    if gold == pred:
        return True
    if gold.has(sympy.Sum) or pred.has(sympy.Sum):  # a closed form where sympy finds one (time-limited)
        gold, pred = gold.doit(), pred.doit()
    tol = rel_tol if (_inexact(gold_node) or _inexact(pred_node)) else 0.0
    return _values_equal(gold, pred, tol, _literal_ulp(gold_node), _literal_ulp(pred_node))


def _sums_alike(gold, pred, rel_tol: float) -> bool:
    """Two sums written alike: the same bounds, and the same body once the index has the same name."""
    body = renamed(pred[1], pred[2], gold[2])
    return (
        equivalent(gold[3], pred[3], rel_tol)
        and equivalent(gold[4], pred[4], rel_tol)
        and scalars_equal(gold[1], body, rel_tol)
    )


def _values_equal(gold, pred, tol: float, gold_ulp=None, pred_ulp=None) -> bool:
    """Two sympy values: exactly equal when `tol` is 0, else by the tolerance rule (module docstring)."""
    if gold == pred:
        return True
    if gold.has(sympy.oo, -sympy.oo) or pred.has(sympy.oo, -sympy.oo):
        return False  # oo == oo was handled above; nothing else equals an infinity
    symbols = gold.free_symbols | pred.free_symbols
    if not symbols:
        if gold.is_Rational and pred.is_Rational and tol == 0.0:
            return False
        if pred_ulp is not None:
            return _numbers_close(gold, pred, max(tol, 1e-20), pred_ulp)
        return _numbers_close(pred, gold, max(tol, 1e-20), gold_ulp)
    diff = gold - pred
    if tol == 0.0 and sympy.expand(diff) == 0:
        return True
    verdict = _random_points_agree(diff, symbols, (gold, pred), tol)
    if verdict is not None or tol > 0.0:
        return bool(verdict)
    return sympy.simplify(diff) == 0  # too few points could be evaluated (singularities): ask simplify


def _equations_equal(gold, pred, rel_tol: float) -> bool:
    """l1 = r1 and l2 = r2 are the same equation when l1 - r1 and l2 - r2 differ by a constant factor; when a side
    is a tuple, interval or set (`D = [0, 1)`), when the two sides are the same."""
    if any(side[0] in _STRUCTURED for side in (*gold[2:], *pred[2:])):
        return equivalent(gold[2], pred[2], rel_tol) and equivalent(gold[3], pred[3], rel_tol)
    d1 = ("add", gold[2], ("neg", gold[3]))
    d2 = ("add", pred[2], ("neg", pred[3]))
    if scalars_equal(d1, d2, rel_tol) or scalars_equal(d1, ("neg", d2), rel_tol):
        return True
    ratio = sympy.simplify(build(d1) / build(d2))
    return bool(ratio.is_number and ratio != 0 and ratio.is_finite)


def _relations_equal(gold, pred, rel_tol: float) -> bool:
    if gold[1] == "=" and pred[1] == "=":
        return _equations_equal(gold, pred, rel_tol)
    if gold[1] in _INEQUALITIES and pred[1] in _INEQUALITIES:
        return inequalities_equal(gold, pred, build)
    if {gold[1], pred[1]} == {"=", "in"} and _is_variable(gold[2]) and _is_variable(pred[2]):
        return gold[3][0] in _STRUCTURED and equivalent(gold[3], pred[3], rel_tol)  # `D = [0, 1)`, `x \in [0, 1)`
    if pred[1] == gold[1] and equivalent(gold[2], pred[2], rel_tol) and equivalent(gold[3], pred[3], rel_tol):
        return True
    return (
        _FLIPPED[pred[1]] == gold[1] and equivalent(gold[2], pred[3], rel_tol) and equivalent(gold[3], pred[2], rel_tol)
    )


def _unordered_equal(golds, preds, rel_tol: float) -> bool:
    if len(golds) != len(preds) or len(golds) > _MAX_ITEMS:
        return False
    unmatched = list(preds)
    for gold in golds:
        for i, pred in enumerate(unmatched):
            if equivalent(gold, pred, rel_tol):
                del unmatched[i]
                break
        else:
            return False
    return True


def _ordered_equal(golds, preds, rel_tol: float) -> bool:
    return len(golds) == len(preds) and all(equivalent(g, p, rel_tol) for g, p in zip(golds, preds))


def _is_variable(node) -> bool:
    """`x`, `f(x)`, a tuple of variables such as `(x, y)`, or a geometric name (`AB`, `|AB|`, `\\frac{NO}{BO}`)."""
    return (
        node[0] == "sym"
        or (node[0] == "seq" and node[1] == "()" and all(c[0] == "sym" for c in node[2:]))
        or _is_named_quantity(node)
    )


def _is_named_quantity(node) -> bool:
    """Capital letters naming points, multiplied, divided or in bars: `AB`, `|AB|`, `\\frac{NO}{BO}`. (`x + y` and
    `xy` are not names: `x + y = 5` stays an equation.)"""
    if node[0] == "sym":
        return node[1][:1].isupper()
    if node[0] in ("mul", "div"):
        return all(_is_named_quantity(child) for child in node[1:])
    return node[0] == "abs" and _is_named_quantity(node[1])


def _unwrap_variable(node, other):
    """`x = 5` stands for `5`, `(x, y) = (2, 1)` for `(2, 1)`, `AB = 4` for `4` and `x \\in S` for `S`, against a
    non-relation."""
    if node[0] == "rel" and node[1] in ("=", "in") and _is_variable(node[2]) and other[0] != "rel":
        return node[3]
    return node


def _vector_entries(node):
    """The entries of a tuple `(a, b)` or of a one-row or one-column matrix, else None."""
    if node[0] == "seq":
        return node[2:] if node[1] == "()" else None
    rows = node[1:]
    if len(rows) == 1:
        return rows[0][1:]
    return [row[1] for row in rows] if all(len(row) == 2 for row in rows) else None


def _expand_pm(node) -> list:
    """`a \\pm b` -> [a + b, a - b]; nodes without `pm` come back as a one-item list."""
    if not isinstance(node, (list, tuple)) or node[0] in ("num", "sym", "const"):
        return [node]
    if node[0] == "pm":
        lefts, rights = _expand_pm(node[1]), _expand_pm(node[2])
        both = [("add", a, b) for a in lefts for b in rights] + [("add", a, ("neg", b)) for a in lefts for b in rights]
        return both[:_MAX_ITEMS]
    expansions = [[]]
    for child in node[1:]:
        options = _expand_pm(child) if isinstance(child, (list, tuple)) else [child]
        expansions = [prefix + [option] for prefix in expansions for option in options][:_MAX_ITEMS]
    return [(node[0], *children) for children in expansions]


def _answers(node) -> list:
    """The answers a node stands for: the items of a bare list, with each `pm` expanded."""
    items = node[1:] if node[0] == "list" else [node]
    return [expanded for item in items for expanded in _expand_pm(item)]


def _percent_options(node) -> list:
    """`25%` may stand for 25 (the percent sign dropped) or for 25/100."""
    return [node[1], node] if node[0] == "pct" else [node]


def _set_elements(gold, pred):
    """The elements of both sides when a set meets a set, a bare list or a `\\pm` (`\\{-2, 2\\}` and `\\pm 2`),
    else None."""

    def elements(node):
        items = node[1:] if node[0] in ("set", "list") else [node]
        return [expanded for item in items for expanded in _expand_pm(item)]

    golds, preds = elements(gold), elements(pred)
    other = pred if gold[0] == "set" else gold
    if other[0] in ("set", "list") or len(golds if other is gold else preds) > 1:
        return golds, preds
    return None


def _same_elements(golds, preds, rel_tol: float) -> bool:
    """Sets are equal when each element of one is in the other; repeats count once (`\\{1, 1, 2\\}` is `\\{1, 2\\}`)."""
    if len(golds) > _MAX_ITEMS or len(preds) > _MAX_ITEMS or (not golds) != (not preds):
        return False
    return all(any(equivalent(g, p, rel_tol) for p in preds) for g in golds) and all(
        any(equivalent(g, p, rel_tol) for g in golds) for p in preds
    )


def _single_equivalent(gold, pred, rel_tol: float) -> bool:
    gold, pred = _unwrap_variable(gold, pred), _unwrap_variable(pred, gold)
    if has_matrix_arithmetic(gold) or has_matrix_arithmetic(pred):  # `A + B` is the matrix it evaluates to
        tol = rel_tol if (_inexact(gold) or _inexact(pred)) else 0.0
        return matrices_equal(gold, pred, build, lambda g, p: _values_equal(g, p, tol))
    if gold[0] == "pct" or pred[0] == "pct":
        return any(
            scalars_equal(g, p, rel_tol) if "pct" in (g[0], p[0]) else equivalent(g, p, rel_tol)
            for g in _percent_options(gold)
            for p in _percent_options(pred)
        )
    kind = gold[0]
    if {kind, pred[0]} == {"matrix", "seq"}:  # a vector as `\\begin{pmatrix} 2 \\\\ -1 \\end{pmatrix}` or `(2, -1)`
        golds, preds = _vector_entries(gold), _vector_entries(pred)
        return golds is not None and preds is not None and _ordered_equal(golds, preds, rel_tol)
    if kind != pred[0]:
        return kind not in _STRUCTURED and pred[0] not in _STRUCTURED and scalars_equal(gold, pred, rel_tol)
    if kind in _UNORDERED:
        return _unordered_equal(gold[1:], pred[1:], rel_tol)
    if kind == "seq":
        return gold[1] == pred[1] and _ordered_equal(gold[2:], pred[2:], rel_tol)
    if kind == "matrix":
        return len(gold) == len(pred) and all(
            len(g) == len(p) and _ordered_equal(g[1:], p[1:], rel_tol) for g, p in zip(gold[1:], pred[1:])
        )
    if kind == "rel":
        return _relations_equal(gold, pred, rel_tol)
    if kind == "and":
        return _ordered_equal(gold[1:], pred[1:], rel_tol)
    return scalars_equal(gold, pred, rel_tol)


def equivalent(gold, pred, rel_tol: float = 1e-6) -> bool:
    """Whether the parsed prediction `pred` is an acceptable answer for the parsed `gold`."""
    as_sets = sets_equal(gold, pred, build)
    if as_sets is not None:
        return as_sets
    if "set" in (gold[0], pred[0]) and (as_elements := _set_elements(gold, pred)) is not None:
        return _same_elements(*as_elements, rel_tol)
    bare = {gold[0], pred[0]}
    if "list" in bare and len(bare) == 2:  # `1, 2` written without its brackets
        listed, other = (gold, pred) if gold[0] == "list" else (pred, gold)
        if other[0] == "seq" and other[1] == "()":
            return _ordered_equal(listed[1:], other[2:], rel_tol)
    gold_answers, pred_answers = _answers(gold), _answers(pred)
    if len(gold_answers) == 1 and len(pred_answers) == 1:
        return _single_equivalent(gold_answers[0], pred_answers[0], rel_tol)
    if len(gold_answers) == 1 and pred[0] == "list" and len(pred_answers) <= _MAX_ITEMS:
        # The same answer stated twice (`\boxed{(x+1)^2}` then `\boxed{x^2+2x+1}`) is that answer.
        return all(_single_equivalent(gold_answers[0], p, rel_tol) for p in pred_answers)
    gold_answers = [_unwrap_variable(g, pred_answers[0]) for g in gold_answers]
    pred_answers = [_unwrap_variable(p, gold_answers[0]) for p in pred_answers]
    return _same_elements(gold_answers, pred_answers, rel_tol)  # a solution listed twice is still one solution
