"""A restricted parser for math answers: whitelist tokenizer + recursive descent -> a tree of tuples.

This is what keeps model text away from `eval`: sympy's `sympify`/`parse_expr` run Python `eval`, so
answers are parsed here instead, into plain tuples such as `("add", ("num", "1"), ("sym", "x"))`, and
sympy objects are built from those trees in a child process (`_math_compare`). A token outside the
whitelist (`__import__`, quotes, dots after names, ...) is a `ParseError` (`_math_tokens`). Input length
and nesting depth are bounded here, and the size of numbers that powers and factorials would produce
in `_math_guard`, so `9^{9^{9^9}}` or `1000000!` are refused before any sympy work starts.

Nodes: num sym const | add mul div pow neg pm fact pct binom | fn root log abs sum | rel and | list set seq union
matrix row. `and` holds the two relations of a chained inequality (`1 < x <= 5`); `sum` is
("sum", body, index name, lower, upper) for `\\sum_{k=1}^{n} body`, the body one term (`\\sum_k k^2 + 1` is
(sum of k^2) + 1, as usually read).
"""

from __future__ import annotations

import time

from verifiers._math_tokens import CONSTANTS, FUNCTIONS, GREEK, MAX_DEPTH, ParseError, VerifierTimeout, tokenize

_RELATIONS = {"=", "<", ">", "<=", ">=", "!=", "in"}
_INEQUALITIES = {"<", ">", "<=", ">="}
_STARTS_FACTOR = {"num", "sym"}  # token kinds that, right after a factor, mean an implicit `*`
_FUNCTION_NAMES = {"f", "g", "h"}  # `f(x)` names a value; `a(x)` stays a product
_IMPLICIT_COMMANDS = FUNCTIONS | GREEK | {"frac", "binom", "sqrt", "pi", "infty"}


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], deadline: float):
        self.tokens, self.pos, self.depth, self.deadline = tokens, 0, 0, deadline

    # -------------------------------------------------------------- token helpers
    def peek(self, offset: int = 0) -> tuple[str, str]:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else ("eof", "")

    def at(self, *values: str) -> bool:
        kind, value = self.peek()
        return kind in ("op", "cmd") and value in values

    def advance(self) -> tuple[str, str]:
        if time.monotonic() > self.deadline:
            raise VerifierTimeout("parsing ran past its time limit")
        token = self.peek()
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        if not self.at(value):
            raise ParseError(f"expected {value!r}, got {self.peek()[1]!r}")
        self.advance()

    def nest(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError(f"nested deeper than {MAX_DEPTH}")

    # -------------------------------------------------------------- grammar
    def items(self, stop: tuple[str, ...]) -> list:
        """relation (',' relation)* up to one of `stop`; `stop` itself is not consumed."""
        self.nest()
        if self.at(*stop):
            self.depth -= 1
            return []
        out = [self.relation()]
        while self.at(","):
            self.advance()
            out.append(self.relation())
        self.depth -= 1
        return out

    def relation(self):
        left = self.union()
        if not self.at(*_RELATIONS):
            return left
        op = self.advance()[1]
        middle = self.union()
        if op not in _INEQUALITIES or not self.at(*_INEQUALITIES):
            return ("rel", op, left, middle)
        op2 = self.advance()[1]  # `1 < x <= 5`: both relations hold
        return ("and", ("rel", op, left, middle), ("rel", op2, middle, self.union()))

    def union(self):
        parts = [self.sum()]
        while self.at("cup"):
            self.advance()
            parts.append(self.sum())
        return parts[0] if len(parts) == 1 else ("union", *parts)

    def sum(self):
        left = self.term()
        while self.at("+", "-", "pm", "mp"):
            op = self.advance()[1]
            right = self.term()
            left = (
                ("add", left, right)
                if op == "+"
                else ("add", left, ("neg", right))
                if op == "-"
                else ("pm", left, right)
                if op == "pm"
                else ("pm", left, ("neg", right))
            )
        return left

    def _starts_factor(self) -> bool:
        kind, value = self.peek()
        if kind == "num" and self.tokens[self.pos - 1][0] == "num":
            return False  # `2 21` is not 42: two numbers side by side are an error, not a product
        return (
            kind in _STARTS_FACTOR
            or kind == "begin"
            or (kind == "op" and value in "({")
            or (kind == "cmd" and value in _IMPLICIT_COMMANDS)
        )

    def term(self):
        left = self.unary()
        while True:
            if self.at("*", "/"):
                op = self.advance()[1]
                right = self.unary()
                left = ("mul", left, right) if op == "*" else ("div", left, right)
            elif self._starts_factor():
                right = self.unary()
                left = _mixed_number(left, right) or ("mul", left, right)
            else:
                return left

    def unary(self):
        if self.at("-", "+", "pm"):
            op = self.advance()[1]
            self.nest()
            operand = self.unary()
            self.depth -= 1
            return ("neg", operand) if op == "-" else ("pm", ("num", "0"), operand) if op == "pm" else operand
        return self.power()

    def power(self):
        base = self.postfix()
        if self.at("^", "**"):
            self.advance()
            self.nest()
            exponent = self.group() if self.at("{") else self.unary()
            self.depth -= 1
            return ("pow", base, exponent)
        return base

    def postfix(self):
        node = self.primary()
        while self.at("!", "%"):
            node = ("fact", node) if self.advance()[1] == "!" else ("pct", node)
        return node

    def group(self):
        """`{...}` as a LaTeX argument: one expression (a comma inside makes it a set)."""
        self.expect("{")
        inner = self.items(("}",))
        self.expect("}")
        if not inner:
            raise ParseError("empty group")
        return inner[0] if len(inner) == 1 else ("set", *inner)

    def argument(self):
        return self.group() if self.at("{") else self.postfix()

    def primary(self):
        self.nest()
        try:
            return self._primary()
        finally:
            self.depth -= 1

    def _primary(self):
        kind, value = self.advance()
        if kind == "num":
            return ("num", value)
        if kind == "sym":
            return self._subscripted(value)
        if kind == "begin":
            return self._matrix()
        if kind == "op" and value in "([":
            inner = self.items((")", "]"))
            close = self.advance()[1]
            if close not in (")", "]"):
                raise ParseError(f"unclosed {value!r}")
            if len(inner) == 1 and value + close in ("()", "[]"):
                return inner[0]  # just grouping
            if not inner:
                raise ParseError("empty brackets")
            return ("seq", value + close, *inner)
        if kind == "op" and value == "{":
            self.pos -= 1
            return self.group()
        if kind == "op" and value == "|":
            inner = self.sum()
            self.expect("|")
            return ("abs", inner)
        if kind == "cmd":
            return self._command(value)
        raise ParseError(f"unexpected {value or 'end of answer'!r}")

    def _subscripted(self, name: str):
        if name in _FUNCTION_NAMES and self.at("(") and self.peek(1)[0] == "sym" and self.peek(2) == ("op", ")"):
            variable = self.peek(1)[1]
            self.pos += 3
            return ("sym", f"{name}({variable})")  # `f(x)`: the function's value, one variable (`0 < f(x) < 1`)
        if not self.at("_"):
            return ("sym", name)
        self.advance()
        kind, value = self.advance()
        if kind == "op" and value == "{":
            parts = []
            while not self.at("}"):
                kind, value = self.advance()
                if kind not in ("num", "sym") or len(parts) > 8:
                    raise ParseError("bad subscript")
                parts.append(value)
            self.advance()
            value = "".join(parts)
        elif kind not in ("num", "sym"):
            raise ParseError("bad subscript")
        return ("sym", f"{name}_{value}")

    def _command(self, name: str):
        if name in CONSTANTS:
            return ("set",) if name == "emptyset" else ("const", CONSTANTS[name])
        if name in GREEK:
            return self._subscripted(name)
        if name == "{":
            inner = self.items(("}",))
            self.expect("}")
            return ("set", *inner)
        if name == "frac":
            return ("div", self.argument(), self.argument())
        if name == "binom":
            return ("binom", self.argument(), self.argument())
        if name == "sqrt":
            index = None
            if self.at("["):
                self.advance()
                index = self.sum()
                self.expect("]")
            radicand = self.argument()
            return (
                ("root", radicand, index)
                if index is not None
                else ("pow", radicand, ("div", ("num", "1"), ("num", "2")))
            )
        if name in FUNCTIONS:
            return self._function(name)
        if name == "sum":
            return self._sum()
        raise ParseError(f"unexpected \\{name}")

    def _function(self, name: str):
        base = exponent = None
        if name == "log" and self.at("_"):
            self.advance()
            base = self.argument()
        if self.at("^"):
            self.advance()
            exponent = self.argument()
        arg = self.argument() if self.at("{", "(") else self.power()
        node = ("log", arg, base) if base is not None else ("fn", name, arg)
        return ("pow", node, exponent) if exponent is not None else node

    def _sum(self):
        """`\\sum_{k=1}^{n} body`: the index and its bounds, then one term."""
        self.expect("_")
        start = self.argument()
        if start[0] != "rel" or start[1] != "=" or start[2][0] != "sym":
            raise ParseError("a sum needs its index and start, as in \\sum_{k=1}^{n}")
        self.expect("^")
        upper = self.argument()
        self.nest()
        body = self.term()
        self.depth -= 1
        return ("sum", body, start[2][1], start[3], upper)

    def _matrix(self):
        rows, row = [], [self.relation()]
        while True:
            kind, value = self.advance()
            if kind == "op" and value == "&":
                row.append(self.relation())
            elif kind == "cmd" and value == "\\":
                rows.append(("row", *row))
                if self.peek()[0] == "end":
                    self.advance()
                    break
                row = [self.relation()]
            elif kind == "end":
                rows.append(("row", *row))
                break
            else:
                raise ParseError(f"unexpected {value!r} in a matrix")
        if len({len(r) for r in rows}) != 1:
            raise ParseError("matrix rows of different lengths")
        return ("matrix", *rows)


def _mixed_number(left, right):
    """`3\\frac{1}{2}` is 3 + 1/2 (a whole number before a proper fraction of literals), not 3 * 1/2."""
    negative = left[0] == "neg"
    whole = left[1] if negative else left
    if whole[0] != "num" or not whole[1].isdigit() or right[0] != "div":
        return None
    num, den = right[1], right[2]
    if num[0] == den[0] == "num" and num[1].isdigit() and den[1].isdigit() and 0 < int(num[1]) < int(den[1]):
        total = ("add", whole, right)
        return ("neg", total) if negative else total
    return None


def parse(text: str, *, deadline: float | None = None):
    """The tree of one answer; several comma-separated answers give ("list", ...). Raises ParseError."""
    parser = _Parser(tokenize(text), deadline if deadline is not None else time.monotonic() + 5.0)
    if not parser.tokens:
        raise ParseError("empty answer")
    items = parser.items(("<never>",))
    if parser.peek()[0] != "eof":
        raise ParseError(f"unexpected {parser.peek()[1]!r}")
    return items[0] if len(items) == 1 else ("list", *items)
