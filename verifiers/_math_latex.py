"""String-level normalisation of LaTeX / plain-text answers (private helper of `verifiers.math`).

`normalize` rewrites presentation-only markup (`\\dfrac`, `\\left(`, `\\(`...`\\)`, `\\,`, `$`, `\\text{cm}`,
degrees, superscript digits, `1,000`, ...) into one canonical spelling, which `_math_number.parse_number`
then reads without sympy. Everything here is plain string replacement or a regex without nested
quantifiers (linear time).

Thousands separators. A comma or a plain space separates thousands only when the WHOLE answer is one
number written in groups of exactly three digits (`1,000,000`, `1 000 000`, `-12 345.5`); a thin space
(`\\,`, `\\ `, `\\;`, `\\:`, `~`, U+2009, U+202F, U+00A0, U+2007) may do so anywhere, again only between a
group of 1-3 digits and groups of exactly three (after a decimal point: groups of three, the last one
shorter, as in `3.141\\,592\\,65`). Anything else is never merged: `1 2`, `2\\,3` and `2 3`
stay two numbers side by side (a parse error), never 12 or 23.
"""

from __future__ import annotations

import math
import re

# Order matters: `\left` before `\le`, `\leq` before `\le`, `\dfrac` before `\frac`.
_REPLACEMENTS = (
    ("\\left", ""),
    ("\\right", ""),
    ("\\bigl", ""),
    ("\\bigr", ""),
    ("\\Bigl", ""),
    ("\\Bigr", ""),
    ("\\displaystyle", ""),
    ("\\angle", " "),
    ("\\measuredangle", " "),
    ("\\dfrac", "\\frac"),
    ("\\tfrac", "\\frac"),
    ("\\cfrac", "\\frac"),
    ("\\dbinom", "\\binom"),
    ("\\tbinom", "\\binom"),
    ("\\qquad", " "),
    ("\\quad", " "),
    ("~", " "),
    ("{,}", ","),
    ("\\%", "%"),
    ("\\$", ""),
    ("$", ""),
    ("\\cdots", ""),
    ("\\cdot", "*"),
    ("\\times", "*"),
    ("\\ast", "*"),
    ("\\div", "/"),
    ("×", "*"),
    ("÷", "/"),
    ("−", "-"),
    ("\\leq", "<="),
    ("\\geq", ">="),
    ("\\le", "<="),
    ("\\ge", ">="),
    ("\\neq", "!="),
    ("\\ne", "!="),
    ("\\lt", "<"),
    ("\\gt", ">"),
    ("≤", "<="),
    ("≥", ">="),
    ("\\lvert", "|"),
    ("\\rvert", "|"),
    ("\\vert", "|"),
    ("\\mid", "|"),
    ("\\varnothing", "\\emptyset"),
    ("\\dots", ""),
    ("\\ldots", ""),
    ("\\infinity", "\\infty"),
    ("π", "\\pi"),
    ("∞", "\\infty"),
    ("√", "\\sqrt"),
    ("\\mathbb{R}", "(-\\infty, \\infty)"),
    ("\\mathbb R", "(-\\infty, \\infty)"),
    ("ℝ", "(-\\infty, \\infty)"),
    ("½", "\\frac{1}{2}"),
    ("⅓", "\\frac{1}{3}"),
    ("⅔", "\\frac{2}{3}"),
    ("¼", "\\frac{1}{4}"),
    ("¾", "\\frac{3}{4}"),
)
_TEXT_MACRO = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|textsf|texttt|textup|mathrm|mathbf|mathit|"
    r"mathsf|mathtt|mathnormal|mbox|hbox|operatorname|boldsymbol|overline)\s*"
    r"\{([^{}]*)\}"
)
_DELIMITERS = re.compile(r"(?<!\\)\\[()\[\]]")  # `\(`, `\)`, `\[`, `\]` (not the `\\` of a matrix row)
_THIN = r"(?:\\[,;: ]|[~\u2009\u202f\u00a0\u2007])"
_THIN_GROUPS = re.compile(r"(?<![\d.])\d{1,3}(?:" + _THIN + r"\d{3})+(?![\d])")  # 1\,000\,000
_THIN_DECIMALS = re.compile(r"\.\d{3}(?:" + _THIN + r"\d{3})*" + _THIN + r"\d{1,3}(?![\d])")  # 3.141\,592\,65
_THIN_SPACE = re.compile(_THIN)
_THIN_BETWEEN_DIGITS = re.compile(r"(?<=\d)" + _THIN + r"+(?=\d)")  # 2\,3: two numbers, not 23
# `\\` (a matrix row break) is matched first so that `\\ 3` is not read as `\` + `\ ` (a space).
_SPACING = re.compile(r"\\\\|\\[ ,;:!]")
_SUPERSCRIPT = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+")
_SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
# `30^\circ`, `30°`, `15^{\circ}\text{C}`, `98.6 °F`: the degree sign, and a Celsius/Fahrenheit letter after it.
_DEGREES = re.compile(
    r"(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree)\s*"
    r"(?:\\(?:text|mathrm)\s*\{\s*[CF]\s*\}|[CF](?![A-Za-z]))?"
)
_UNIT_POWER = re.compile(r"([A-Za-z]) +\^")  # `cm ^2` (after \text{cm} is unwrapped) -> `cm^2`
_FRAC_DIGITS = re.compile(r"\\frac(\d)(\d)")  # \frac12 -> \frac{1}{2}
_BINOM_DIGITS = re.compile(r"\\binom(\d)(\d)")
_SQRT_DIGIT = re.compile(r"\\sqrt(\d)")  # \sqrt2 -> \sqrt{2}
_CHOOSE = re.compile(r"\{([^{}\\]{1,40})\\choose([^{}\\]{1,40})\}")  # {n \choose k} -> \binom{n}{k}
_BARE_CHOOSE = re.compile(r"([^{}\\]{1,40})\\choose([^{}\\]{1,40})")
_CHOOSE_CALL = re.compile(r"C\s*\(\s*(\d{1,4})\s*,\s*(\d{1,4})\s*\)")  # C(5, 2) as a whole answer
_BINOM_LITERAL = re.compile(r"\\binom\s*\{\s*(\d{1,4})\s*\}\s*\{\s*(\d{1,4})\s*\}")
_MAX_BINOM_N = 1000  # \binom{n}{k} of literals is evaluated in-process up to here (at most 300 digits)
_APPROX = re.compile(r"\\approx|≈")
_LONE_VARIABLE = re.compile(r"[A-Za-z](?:_\{?[A-Za-z0-9]{1,4}\}?)?\s*=?")
_THOUSANDS = re.compile(r"-?(?!0,)\d{1,3}(?:,\d{3})+(?:\.\d+)?")  # `0,111` is no thousands: a decimal comma
_SPACED_THOUSANDS = re.compile(r"-?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_COMMA_THIN = re.compile(r"(?<=\d),\\!\s*(?=\d{3}(?!\d))")  # `11,\! 111`: a comma and a negative space, then a group
_SPACES = re.compile(r"\s+")
_SEMICOLON = re.compile(r"\s*;\s*")  # `1; 2` lists two answers, as `1, 2` does (never a thousands separator)
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


def _spacing(s: str) -> str:
    """Math delimiters and LaTeX spacing out; thin-space thousands merged; other spaces between digits kept."""
    s = _DELIMITERS.sub("", s)
    s = _COMMA_THIN.sub(",", s)
    s = _THIN_GROUPS.sub(lambda m: _THIN_SPACE.sub("", m.group()), s)
    s = _THIN_DECIMALS.sub(lambda m: _THIN_SPACE.sub("", m.group()), s)
    s = _THIN_BETWEEN_DIGITS.sub(" ", s)
    return _SPACING.sub(lambda m: m.group() if m.group() == "\\\\" else ("" if m.group() in ("\\,", "\\!") else " "), s)


def _binomials(s: str) -> str:
    """`{n \\choose k}` and a whole-answer `C(n, k)` as `\\binom{n}{k}`; a whole-answer binomial of literals
    evaluated."""
    if "choose" in s:
        s = _CHOOSE.sub(r"\\binom{\1}{\2}", s)
        if m := _BARE_CHOOSE.fullmatch(s):
            s = f"\\binom{{{m[1].strip()}}}{{{m[2].strip()}}}"
    if s.startswith("C") and (m := _CHOOSE_CALL.fullmatch(s)):
        s = f"\\binom{{{m[1]}}}{{{m[2]}}}"
    if "binom" in s:
        s = _BINOM_DIGITS.sub(r"\\binom{\1}{\2}", s)
        if (m := _BINOM_LITERAL.fullmatch(s)) and int(m[1]) <= _MAX_BINOM_N:
            s = str(math.comb(int(m[1]), int(m[2])))
    return s


def _approximation(s: str) -> str:
    """`\\frac{1}{6} \\approx 0.167` -> the exact value before `\\approx` (or the value after a bare `x \\approx`)."""
    parts = _APPROX.split(s, 1)
    if len(parts) == 1:
        return s
    left, right = parts[0].strip(), parts[1].strip()
    return right if not left or _LONE_VARIABLE.fullmatch(left) else left


def _markup(s: str) -> str:
    """The LaTeX and Unicode part of `normalize` (skipped for plain ASCII answers: they are most of them)."""
    s = _DEGREES.sub("", _spacing(s))
    for old, new in _REPLACEMENTS:
        if old in s:
            s = s.replace(old, new)
    if not s.isascii():
        s = _SUPERSCRIPT.sub(lambda m: "^{" + m.group().translate(_SUPERSCRIPT_DIGITS) + "}", s)
    for _ in range(3):  # \text{\textbf{x}} unwraps from the inside out
        s, unwrapped = _TEXT_MACRO.subn(r" \1 ", s)
        if not unwrapped:
            break
    s = _FRAC_DIGITS.sub(r"\\frac{\1}{\2}", s)
    s = _SQRT_DIGIT.sub(r"\\sqrt{\1}", s)
    return _approximation(s)


def normalize(answer: str) -> str:
    """Canonical spelling of an answer: presentation markup removed, units and `$` dropped, spaces collapsed."""
    s = answer.strip()
    if "\\" in s or "~" in s or not s.isascii():
        s = _markup(s)
    else:
        s = s.replace("{,}", ",").replace("$", "")
    for word in _PERCENT_WORDS:
        if s.endswith(word):
            s = s[: -len(word)] + "%"
    if ";" in s:
        s = _SEMICOLON.sub(", ", s)
    s = _SPACES.sub(" ", s).strip()
    if "^" in s:
        s = _UNIT_POWER.sub(r"\1^", s)
    if " " in s:
        s = _strip_units(s)
        if s[:7].lower() == "either ":  # "either x = 2 or x = 3" lists two answers
            s = s[7:]
        s = _WORD_SEPARATORS.sub(", ", s)
    s = _binomials(s.rstrip(". ").strip())
    if "," in s and _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    elif " " in s and _SPACED_THOUSANDS.fullmatch(s):
        s = s.replace(" ", "")
    return s


def strip_variable(s: str) -> str:
    """`x = 5` -> `5` (only a single variable on the left; `x + y = 5` is kept as an equation)."""
    m = _LHS.match(s)
    if m and "=" not in s[m.end() :] and not s[m.end() :].startswith("="):
        return s[m.end() :].strip()
    return s
