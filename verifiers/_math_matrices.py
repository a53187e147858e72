"""Matrix arithmetic in answers:
`\\begin{pmatrix}1\\\\2\\end{pmatrix} + \\begin{pmatrix}3\\\\4\\end{pmatrix}` is the matrix it evaluates to.
Runs only inside the worker child process.

A node that adds, subtracts, scales or multiplies matrices (`A + B`, `2A`, `A/2`, `-A`, `AB` with matching
shapes) is evaluated with sympy matrices and compared entry by entry; anything else about it (a matrix plus a
number, shapes that do not fit) is not a matrix and compares unequal.
"""

from __future__ import annotations

import sympy

_ARITHMETIC = {"add", "mul", "div", "neg"}


def _contains_matrix(node) -> bool:
    return node[0] == "matrix" or any(_contains_matrix(child) for child in node[1:] if isinstance(child, (list, tuple)))


def has_matrix_arithmetic(node) -> bool:
    """Whether `node` computes with matrices (rather than being one, or a scalar)."""
    return node[0] in _ARITHMETIC and _contains_matrix(node)


def _value(node, build):
    """A sympy Matrix, a scalar, or None when the arithmetic is not defined (a matrix plus a number)."""
    kind = node[0]
    if kind == "matrix":
        return sympy.Matrix([[build(entry) for entry in row[1:]] for row in node[1:]])
    if kind not in _ARITHMETIC or not _contains_matrix(node):
        return build(node)
    parts = [_value(child, build) for child in node[1:]]
    if any(part is None for part in parts):
        return None
    matrices = [isinstance(part, sympy.MatrixBase) for part in parts]
    if kind == "neg":
        return -parts[0]
    if kind == "add":
        return parts[0] + parts[1] if all(matrices) and parts[0].shape == parts[1].shape else None
    if kind == "div":
        return parts[0] / parts[1] if matrices == [True, False] else None
    if all(matrices) and parts[0].shape[1] != parts[1].shape[0]:
        return None
    return parts[0] * parts[1]


def matrices_equal(gold, pred, build, entries_equal) -> bool:
    """Whether two matrix-valued nodes evaluate to matrices of one shape with `entries_equal` entries."""
    gold_value, pred_value = _value(gold, build), _value(pred, build)
    if not (isinstance(gold_value, sympy.MatrixBase) and isinstance(pred_value, sympy.MatrixBase)):
        return False
    return gold_value.shape == pred_value.shape and all(entries_equal(g, p) for g, p in zip(gold_value, pred_value))
