"""String-level normalisation of LaTeX / plain-text answers, and the sympy-free numeric fast path.

`normalize` rewrites presentation-only markup (`\\dfrac`, `\\left(`, `\\,`, `$`, `\\text{cm}`, degrees,
`1,000`, ...) into one canonical spelling; `parse_number` then reads the common RL answer (an integer,
decimal, fraction, mixed number or percentage) into an exact `Fraction` without touching sympy.
Everything here is plain string replacement or a regex without nested quantifiers (linear time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_NUMBER_DIGITS = 400  # the fast path never builds larger numbers (and stays under int's str limit)

# Order matters: `\left` before `\le`, `\leq` before `\le`, `\dfrac` before `\frac`.
_REPLACEMENTS = (
    ("\\left", ""), ("\\right", ""), ("\\bigl", ""), ("\\bigr", ""), ("\\Bigl", ""), ("\\Bigr", ""),
    ("\\displaystyle", ""), ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\cfrac", "\\frac"),
    ("\\qquad", " "), ("\\quad", " "),
    ("~", " "), ("{,}", ","), ("\\%", "%"), ("\\$", ""), ("$", ""),
    ("^{\\circ}", ""), ("^\\circ", ""), ("\\circ", ""), ("°", ""), ("\\degree", ""),
    ("\\cdots", ""), ("\\cdot", "*"), ("\\times", "*"), ("\\ast", "*"), ("\\div", "/"), ("×", "*"), ("÷", "/"), ("−", "-"),
    ("\\leq", "<="), ("\\geq", ">="), ("\\le", "<="), ("\\ge", ">="), ("\\neq", "!="), ("\\ne", "!="),
    ("\\lt", "<"), ("\\gt", ">"), ("≤", "<="), ("≥", ">="), ("\\lvert", "|"), ("\\rvert", "|"),
    ("\\vert", "|"), ("\\mid", "|"), ("\\varnothing", "\\emptyset"), ("\\dots", ""), ("\\ldots", ""),
    ("\\infinity", "\\infty"), ("π", "\\pi"), ("∞", "\\infty"), ("√", "\\sqrt"),
)
_TEXT_MACRO = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|operatorname|boldsymbol)\s*"
                         r"\{([^{}]*)\}")
# `\\` (a matrix row break) is matched first so that `\\ 3` is not read as `\` + `\ ` (a space).
_SPACING = re.compile(r"\\\\|\\[ ,;:!]")
_UNIT_POWER = re.compile(r"([A-Za-z]) +\^")  # `cm ^2` (after \text{cm} is unwrapped) -> `cm^2`
_FRAC_DIGITS = re.compile(r"\\frac(\d)(\d)")  # \frac12 -> \frac{1}{2}
_SQRT_DIGIT = re.compile(r"\\sqrt(\d)")  # \sqrt2 -> \sqrt{2}
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SPACES = re.compile(r"\s+")
_WORD_SEPARATORS = re.compile(r"\s+(?:or|and)\s+")
# `x =`, `x_1 =`, `f(x) =`: a variable or function being named, not part of the answer.
_LHS = re.compile(r"[A-Za-z](?:_\{?[A-Za-z0-9]{1,4}\}?)?(?:\([A-Za-z]\))?\s*=")
# Words that are maths, not units: never stripped from the end of an answer.
_MATH_WORDS = {"pi", "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "sqrt", "infty", "inf", "oo"}
_PERCENT_WORDS = (" percent", "percent")


def _is_unit_word(word: str) -> bool:
    base = word.rstrip(".").split("^", 1)[0].replace("/", "")
    return len(base) >= 2 and base.isalpha() and base.lower() not in _MATH_WORDS


def _strip_units(s: str) -> str:
    """`12 square feet` -> `12`, `5 cm^2` -> `5`: drop trailing words after something that ends in a number."""
    words = s.split(" ")
    kept = len(words)
    while kept > 1 and _is_unit_word(words[kept - 1]):
        kept -= 1
    last = words[kept - 1]
    if kept < len(words) and last and (last[-1].isdigit() or last[-1] in ")}%"):
        return " ".join(words[:kept])
    return s


def normalize(answer: str) -> str:
    """Canonical spelling of an answer: presentation markup removed, units and `$` dropped, spaces collapsed."""
    s = _SPACING.sub(lambda m: m.group() if m.group() == "\\\\" else ("" if m.group() in ("\\,", "\\!") else " "),
                     answer.strip())
    for old, new in _REPLACEMENTS:
        if old in s:
            s = s.replace(old, new)
    for _ in range(3):  # \text{\textbf{x}} unwraps from the inside out
        s = _TEXT_MACRO.sub(r" \1 ", s)
    s = _FRAC_DIGITS.sub(r"\\frac{\1}{\2}", s)
    s = _SQRT_DIGIT.sub(r"\\sqrt{\1}", s)
    for word in _PERCENT_WORDS:
        if s.endswith(word):
            s = s[:-len(word)] + "%"
    s = _SPACES.sub(" ", s).strip()
    s = _UNIT_POWER.sub(r"\1^", s)
    s = _strip_units(s)
    s = _WORD_SEPARATORS.sub(", ", s)
    s = s.rstrip(". ").strip()
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    return s


def strip_variable(s: str) -> str:
    """`x = 5` -> `5` (only a single variable on the left; `x + y = 5` is kept as an equation)."""
    m = _LHS.match(s)
    if m and "=" not in s[m.end():] and not s[m.end():].startswith("="):
        return s[m.end():].strip()
    return s


@dataclass(frozen=True)
class Number:
    value: Fraction
    exact: bool  # False when written as a decimal: compared with a tolerance (see `numbers_match`)
    percent: bool  # written with `%`: may stand for value/100
    places: int = 0  # digits written after the decimal point


_DECIMAL = r"(\d+(?:\.\d*)?|\.\d+)"
_PLAIN = re.compile(r"([+-]?)\s*" + _DECIMAL)
_SLASH = re.compile(r"([+-]?)\s*\(?(\d+)\)?/\(?(\d+)\)?")
_FRAC = re.compile(r"([+-]?)\s*\\frac\{([+-]?)(\d+)\}\{(\d+)\}")
_MIXED = re.compile(r"([+-]?)\s*(\d+)(?: |\\frac\{)(\d+)(?:/|\}\{)(\d+)\}?")


def parse_number(s: str) -> Number | None:
    """A plain number (`42`, `-3.5`, `3/4`, `\\frac{3}{4}`, `2\\frac{1}{2}`, `2 1/2`, `25%`), else None."""
    if len(s) > MAX_NUMBER_DIGITS:
        return None
    percent = s.endswith("%")
    if percent:
        s = s[:-1].rstrip()
    sign, value, exact, places = 1, None, True, 0
    if m := _PLAIN.fullmatch(s):
        sign, value, exact = (-1 if m[1] == "-" else 1), Fraction(m[2]), "." not in m[2]
        places = len(m[2].split(".", 1)[1]) if not exact else 0
    elif (m := _SLASH.fullmatch(s)) and int(m[3]) != 0:
        sign, value = (-1 if m[1] == "-" else 1), Fraction(int(m[2]), int(m[3]))
    elif (m := _FRAC.fullmatch(s)) and int(m[4]) != 0:
        sign = (-1 if m[1] == "-" else 1) * (-1 if m[2] == "-" else 1)
        value = Fraction(int(m[3]), int(m[4]))
    elif (m := _MIXED.fullmatch(s)) and 0 < int(m[3]) < int(m[4]) and ("\\frac{" in s) == s.endswith("}"):
        # A mixed number only when unambiguous: a proper fraction after a whole number.
        sign, value = (-1 if m[1] == "-" else 1), int(m[2]) + Fraction(int(m[3]), int(m[4]))
    if value is None:
        return None
    return Number(sign * value, exact, percent, places)


def _candidates(number: Number) -> list[tuple[Fraction, Fraction | None]]:
    """(value, unit in the last written decimal place or None if exact); `25%` stands for 25 or 25/100."""
    ulp = None if number.exact else Fraction(1, 10 ** number.places)
    out = [(number.value, ulp)]
    if number.percent:
        out.append((number.value / 100, None if ulp is None else ulp / 100))
    return out


def numbers_match(gold: Number, pred: Number, rel_tol: float) -> bool:
    """Exactly equal, or (a decimal on either side) within `rel_tol` relative AND within one unit of the
    decimal's last written place: 0.3333333 is 1/3, but 1234568.0 is not 1234567 (though within 1e-6)."""
    for g, gold_ulp in _candidates(gold):
        for p, pred_ulp in _candidates(pred):
            if g == p:
                return True
            ulp = pred_ulp if pred_ulp is not None else gold_ulp
            if ulp is not None and abs(g - p) <= min(ulp, Fraction(rel_tol) * max(abs(g), abs(p))):
                return True
    return False
