"""Sympy values of parsed answer trees (`_math_parse`). Runs only inside the worker child process.

Trees are plain tuples built by the whitelist parser, so nothing here parses text or reaches `eval`: each node
kind maps to one sympy constructor. `e` and `i` are the constants; any other letter is a variable.
"""

from __future__ import annotations

from fractions import Fraction

import sympy

_FUNCTIONS = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "cot": sympy.cot,
    "sec": sympy.sec,
    "csc": sympy.csc,
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "exp": sympy.exp,
    "ln": sympy.log,
    "log": sympy.log,
}
_CONSTANTS = {"pi": sympy.pi, "oo": sympy.oo}


def _symbol(name: str):
    if name == "e":
        return sympy.E
    if name == "i":
        return sympy.I
    return sympy.Symbol(name)


def renamed(node, old: str, new: str):
    """`node` with every variable `old` renamed `new` (a sum's index)."""
    if node[0] == "sym":
        return ("sym", new) if node[1] == old else node
    return (node[0], *(renamed(child, old, new) if isinstance(child, (list, tuple)) else child for child in node[1:]))


def _sum(body, index: str, lower, upper):
    """`\\sum_{index=lower}^{upper} body`; the index gets a name no answer can write (`i` would be the constant)."""
    bound = "__" + index
    return sympy.Sum(build(renamed(body, index, bound)), (sympy.Symbol(bound), build(lower), build(upper)))


def build(node) -> sympy.Expr:
    """The sympy value of a scalar node (containers are handled by `_math_compare.equivalent`)."""
    kind, args = node[0], node[1:]
    if kind == "num":
        value = Fraction(args[0])  # digits and a dot only (tokenizer); exact even for decimals
        return sympy.Rational(value.numerator, value.denominator)
    if kind == "sym":
        return _symbol(args[0])
    if kind == "const":
        return _CONSTANTS[args[0]]
    if kind in ("add", "mul", "div", "pow", "binom", "root", "log"):
        left, right = build(args[0]), build(args[1])
        return {
            "add": lambda: left + right,
            "mul": lambda: left * right,
            "div": lambda: left / right,
            "pow": lambda: left**right,
            "binom": lambda: sympy.binomial(left, right),
            "root": lambda: sympy.root(left, right),
            "log": lambda: sympy.log(left, right),
        }[kind]()
    if kind == "neg":
        return -build(args[0])
    if kind == "pct":
        return build(args[0]) / 100
    if kind == "fact":
        return sympy.factorial(build(args[0]))
    if kind == "abs":
        return sympy.Abs(build(args[0]))
    if kind == "fn":
        return _FUNCTIONS[args[0]](build(args[1]))
    if kind == "sum":
        return _sum(*args)
    raise ValueError(f"{kind} is not a scalar")
