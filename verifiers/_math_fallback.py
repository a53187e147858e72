"""The last-number fallback: an answer read from a response's final statement when it states none otherwise.

Small policies often end with "3 + 4 = 7." and no box, so `verifiers.math` reads such a sentence when
`fallback_last_number=True` (the default). A policy under RL would also learn to exploit a loose
fallback (stop mid-computation and have the last number scored), so it accepts only what the response
commits to (`fallback_answer`):

1. Only the committed text is read (after `</think>`, before a stop marker; see
   `_math_extract.committed_text`), its last 2,000 characters. A response that is nothing but one short line
   of maths (`\\frac{7}{3}`, `45 percent`, `x >= 5`: no plain `=`, no hedge, no prose) is its own answer.
2. The response must visibly end: its last character is `.` or `!` (not `...`), or it closes a
   `$...$`, `\\(...\\)`, `\\[...\\]` or `**bold**`, or its last line is nothing but a number (`18`, `**18**`).
   A response that stops on a digit mid-line, an operator, a comma, a word or `?` may have been cut off,
   and gives no answer. When the caller knows the response ended on its own (`complete=True`: the policy
   emitted its end-of-sequence token, it was not cut at a length limit), a last line that ends on a number
   (`11 + 4 = 15`) has visibly ended too; one that ends on a word or an operator still has not.
3. The final statement is the last sentence of the last line (or a `\\[...\\]` / `$$...$$` display ending it).
   It must commit to one answer: a statement that hedges or qualifies (`or`, `either`, `maybe`,
   `not`, `than`, `approximately`, `if`, ...) gives none, since its last number is not what it asserts.
   - If it ends with inline maths (`The probability is $\\frac{1}{2}$.`), the answer is that maths, or
     what follows its last top-level `=` (`$2 + 3 = 5$.` gives `5`), except that a named value or an implicit
     equation stays whole (`$x = 5$`, `$y = 2x + 1$`, `$p = 1, p = 2$`, `$2x + 4y - 3 = 0$`). Maths holding a
     relation other than `=` (`<`, `\\le`, `>=`, `\\neq`, `≥`, `\\in`, `\\subset`, ...) is the answer whole,
     compared as a relation: `$x <= 5$` is never cut at the `=` of `<=` into `5`.
   - Otherwise the answer is its last number (`1,250`, `1 250`, `6.02e23` count as one number; units
     such as `\\text{ cm}^2` or `m^2` are skipped), which must be a result, not an operand: not right
     after `+ - * / ^ _ {` or another number, and with no digit, operator, `=` or brace after it in the
     sentence (`3 + 4 = 7.` gives 7; `7 = 3 + 4.` and `So 3 * 4 = 12 + 5.` give nothing). A statement with a
     relation other than `=` gives no number at all: its one inline relation, if it has one, is the answer
     (`Therefore $x < 5$ is the solution.` gives `x < 5`, never 5), else nothing. Nor does a number
     that is an operand in words or a circumstance (`after 3`, `divided by 3`, `for 3 days`, `than 5`).
   - Either way, an answer that ends a list (`2 and 3`, `1, 2, 3`, `$x = 2$ and $y = 3$`) is not read: the
     statement names several values and the fallback would pick one of them.
"""

from __future__ import annotations

import re

from verifiers._math_latex import normalize
from verifiers._math_number import parse_number
from verifiers._math_tokens import WORDS

FALLBACK_TAIL_CHARS = 2_000
_ENDINGS = (".", "!", "$", "**", "\\)", "\\]")
_SENTENCE_BREAK = re.compile(r"[.!?]\s+")  # not `;`: `x = 1; x = 2` is one list
_ENDS_ON_DIGIT = re.compile(r"\d[\s*$]*$")
# Groups of three after commas or (thin) spaces belong to the number, and so does a power of ten
# (`6.02e23`, `6.02 \times 10^{23}`, `6.02×10²³`). No nested quantifiers (linear).
_NUMBER = re.compile(
    r"-?(?:\d{1,3}(?:[,\u2009\u202f\u00a0 ]\d{3})+(?![\d])|\d+)(?:\.\d+)?(?:/\d+)?"
    r"(?:[eE][+-]?\d{1,4}|\s*(?:\\times|\\cdot|[×x*·])\s*10(?:\^\{?[+-]?\d{1,4}\}?|[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+))?"
    r"|-?\.\d+"
)
_OPERAND_BEFORE = set("+-*/^_{×÷·\\") | set("0123456789")
_AFTER_RESULT = re.compile(r"[\d=+*/^×÷<>{}\\]|-\s*\d")
# Units after a number (`12 \text{ cm}^2`, `12 m^2`) are neither the answer nor a computation.
_UNIT_MARKUP = re.compile(r"\\(?:text|mathrm|mbox)\s*\{[^{}]*\}(?:\^\{?\d\}?)?|[A-Za-z]\^\{?\d\}?")
# A relation other than `=`: its sides are not results, and its `=` (in `>=`, `\\leq`) is not an equals sign.
RELATION = re.compile(
    r"[<>≤≥≠⩽⩾∈∉⊂⊆⊃⊇]|!=|\\(?:le|ge|leq|geq|leqslant|geqslant|lt|gt|ne|neq|in|notin|subset|"
    r"subseteq|supset|supseteq|approx|sim)(?![A-Za-z])"
)
# Words that make a statement conditional, hedged or about something else than its last number.
_HEDGE = re.compile(
    r"\b(?:or|either|maybe|perhaps|possibly|probably|might|could|not|than|unless|except|"
    r"approximately|about|around|roughly|nearly|almost|if|whether)\b",
    re.IGNORECASE,
)
# In the clause before a number, the last of these words says what the number is: an operand or a circumstance
# (`after giving away 3`, `divided by 3`, `at $2`) or a result (`the total for the week is 70`).
_NOT_A_RESULT = {
    "after",
    "before",
    "from",
    "to",
    "by",
    "per",
    "for",
    "at",
    "in",
    "on",
    "with",
    "without",
    "over",
    "under",
    "between",
    "within",
    "times",
    "minus",
    "plus",
    "divided",
    "multiplied",
    "out",
    "each",
    "every",
    "since",
    "until",
    "step",
    "part",
}
_RESULT = {
    "is",
    "are",
    "was",
    "were",
    "be",
    "equals",
    "equal",
    "gives",
    "give",
    "get",
    "gets",
    "got",
    "makes",
    "make",
    "made",
    "has",
    "have",
    "had",
    "total",
    "totals",
    "costs",
    "cost",
    "needs",
    "need",
    "earns",
    "earned",
    "pays",
    "paid",
    "spends",
    "spent",
    "left",
    "remain",
    "remains",
    "becomes",
    "yields",
    "so",
    "thus",
    "hence",
    "therefore",
    "altogether",
    "sum",
    "result",
    "answer",
}
_TO_A_RESULT = {
    "up",
    "equal",
    "equals",
    "amounts",
    "amount",
    "comes",
    "come",
    "adds",
    "add",
    "rises",
    "rose",
    "increases",
    "increased",
    "decreases",
    "decreased",
    "grows",
    "grew",
    "goes",
    "went",
    "drops",
    "dropped",
    "results",
    "result",
    "resulting",
    "ends",
    "ended",
}  # ... before `to` or `in`: `results in 11`
# The left side of `x = 5`, `f(x) = 2x`, `a_1 = 3`, `AB = 4`, `|AB| = 1`: a name whose value the answer states.
_LABEL = re.compile(r"[A-Za-z](?:_\{?[A-Za-z0-9]{1,4}\}?)?(?:\([A-Za-z]\))?|[A-Z]{2,4}|\|[A-Z]{2,4}\|")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_INLINE = re.compile(r"\$([^$]{1,500})\$")
_WORDS = re.compile(r"[A-Za-z]{2,}")  # outside `\commands`: prose, unless a name such as `sqrt` or `pi`
MAX_BARE_CHARS = 100
_CLAUSE_BREAK = re.compile(r"[\d=,;:]")
# The end of the text before an answer that makes the answer the last item of a list.
_LIST_BEFORE = re.compile(r"(?:,|;|&|\band|\\text\{\s*and\s*\})\s*(?:[A-Za-z](?:_\{?\w{1,4}\}?)?\s*=)?\s*$")


def _final_statement(text: str, complete: bool) -> str | None:
    """The last sentence of `text`, without its closing punctuation and bold markers; None if it is cut off."""
    tail = text[-FALLBACK_TAIL_CHARS:].rstrip()
    last_line = tail.rsplit("\n", 1)[-1].strip(" *$")
    if _NUMBER.fullmatch(last_line):
        return last_line  # the answer alone on the last line
    ended = tail.endswith(_ENDINGS) and not tail.endswith("..")
    if not (ended or (complete and _ENDS_ON_DIGIT.search(tail))):
        return None
    tail = tail.rstrip(" .!")
    for opening, closing in (("\\[", "\\]"), ("$$", "$$")):  # display maths may span several lines
        start = tail.rfind(opening, 0, len(tail) - len(closing))
        if tail.endswith(closing) and start >= 0:
            return " ".join(tail[start:].split())
    line = tail.rsplit("\n", 1)[-1].replace("**", " ").rstrip(" .!")
    return _SENTENCE_BREAK.split(line)[-1].strip() or None


def _closing_math(statement: str) -> str | None:
    """The maths a statement ends with (`... is $\\frac{1}{2}$`), or after its last `=` (a relation other than
    `=` stays whole); None if it ends otherwise or the maths ends a list (`$2$ and $3$`)."""
    for opening, closing in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if statement.endswith(closing):
            body = statement[: -len(closing)].rstrip("$")
            start = body.rfind(opening)
            if start < 0 or _LIST_BEFORE.search(body[:start].rstrip("$ *")):
                return None
            math = body[start + len(opening) :].strip("$ ")
            return math if RELATION.search(math) else _stated_value(math)
    return None


def _top_level(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside braces and brackets (`\\sum_{k=1}` holds no equation)."""
    parts, depth, last = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "{([" and 1 or ch in "})]" and -1 or 0
        if ch == separator and depth == 0:
            parts.append(text[last:i])
            last = i + 1
    return parts + [text[last:]]


def _stated_value(math: str) -> str | None:
    """What closing maths states: `2 + 3 = 5` states 5, but `x = 5`, `y = 2x + 1`, `p = -1, p = 2` and an implicit
    `2x + 4y - 3 = 0` are kept whole (the comparer reads a named value against a bare gold)."""
    sides = _top_level(math, "=")
    if len(sides) == 1:
        return math.strip() or None
    items = [_top_level(item, "=") for item in _top_level(math, ",")]
    named = all(len(item) == 2 and _LABEL.fullmatch(item[0].strip()) for item in items)
    implicit = len(sides) == 2 and sides[1].strip() == "0" and re.search(r"[A-Za-z]", _COMMAND.sub("", sides[0]))
    return math.strip() if named or implicit else (sides[-1].strip() or None)


def _bare_answer(text: str) -> str | None:
    """A response that is one short line of maths (`\\frac{10}{9}`, `28 percent`, `x >= 5`) is its own answer; not
    a computation (`11 + 4 = 15` must visibly end), a hedge or prose."""
    line = text.strip()
    if (
        not line
        or "\n" in line
        or len(line) > MAX_BARE_CHARS
        or "=" in re.sub(r"[<>!]=", "", line)
        or _HEDGE.search(line)
    ):
        return None
    line = line.rstrip(".").strip()
    words = set(_WORDS.findall(_COMMAND.sub(" ", line))) - WORDS
    if words and parse_number(normalize(line)) is None:  # `28 percent` is a number; `So it is 7` is prose
        return None
    return line or None


def _last_result(statement: str) -> str | None:
    """The statement's last number, if it is a result rather than an operand of a computation."""
    statement = _UNIT_MARKUP.sub(" ", statement)
    last = None
    for last in _NUMBER.finditer(statement):
        pass
    if last is None:
        return None
    before = statement[: last.start()].rstrip()
    if before and (
        before[-1] in _OPERAND_BEFORE or (last.group()[0] == "-" and (before[-1].isalnum() or before[-1] in ")}"))
    ):
        return None
    if _AFTER_RESULT.search(statement[last.end() :]) or _LIST_BEFORE.search(before.rstrip("$ *")):
        return None
    if _says_circumstance(before):
        return None
    return last.group().rstrip(",") or None


def _says_circumstance(before: str) -> bool:
    """Whether the clause before a number makes it an operand or a circumstance rather than a result."""
    words = re.findall(r"[A-Za-z]+", _CLAUSE_BREAK.split(before)[-1].lower())
    for i in range(len(words) - 1, -1, -1):
        if words[i] in _RESULT or (words[i] in ("to", "in") and i > 0 and words[i - 1] in _TO_A_RESULT):
            return False  # `is 70`, `adds up to 40`, `equal to 12`, `results in 11`
        if words[i] in _NOT_A_RESULT:
            return True
    return False


def fallback_answer(text: str, complete: bool = False) -> str | None:
    """The answer the final statement of `text` commits to (rules in the module docstring), or None.

    `complete`: the response ended on its own (not cut at a length limit), see rule 2."""
    bare = _bare_answer(text[-MAX_BARE_CHARS - 1 :]) if len(text.strip()) <= MAX_BARE_CHARS else None
    if bare is not None:
        return bare
    statement = _final_statement(text, complete)
    if statement is None or _HEDGE.search(statement):
        return None
    if statement.endswith(("$", "\\)", "\\]")):
        return _closing_math(statement)
    if RELATION.search(statement):  # `Therefore $x < 5$ is the solution.`: the relation, never its bound
        maths = _INLINE.findall(statement)
        return maths[0].strip() if len(maths) == 1 and RELATION.search(maths[0]) else None
    return _last_result(statement)
