"""The last-number fallback: an answer read from a response's final statement when it states none otherwise.

Small policies often end with "3 + 4 = 7." and no box, so `verifiers.math` reads such a sentence when
`fallback_last_number=True` (the default). A policy under RL would also learn to exploit a loose
fallback (stop mid-computation and have the last number scored), so it accepts only what the response
commits to (`fallback_answer`):

1. Only the committed text is read (after `</think>`; see `_math_extract.committed_text`), its last
   2,000 characters.
2. The response must visibly end: its last character is `.` or `!` (not `...`), or it closes a
   `$...$`, `\\(...\\)`, `\\[...\\]` or `**bold**`, or its last line is nothing but a number (`18`, `**18**`).
   A response that stops on a digit mid-line, an operator, a comma, a word or `?` may have been cut off,
   and gives no answer. When the caller knows the response ended on its own (`complete=True`: the policy
   emitted its end-of-sequence token, it was not cut at a length limit), a last line that ends on a number
   (`11 + 4 = 15`) has visibly ended too; one that ends on a word or an operator still has not.
3. The final statement is the last sentence of the last line (or a `\\[...\\]` / `$$...$$` display ending it).
   - If it ends with inline maths (`The probability is $\\frac{1}{2}$.`), the answer is that maths, or
     what follows its last `=` (`$2 + 3 = 5$.` gives `5`).
   - Otherwise the answer is its last number (`1,250`, `1 250`, `6.02e23` count as one number; units
     such as `\\text{ cm}^2` or `m^2` are skipped), which must be a result, not an operand: not right
     after `+ - * / ^ _ {` or another number, and with no digit, operator, `=` or brace after it in the
     sentence (`3 + 4 = 7.` gives 7; `7 = 3 + 4.` and `So 3 * 4 = 12 + 5.` give nothing).
"""

from __future__ import annotations

import re

FALLBACK_TAIL_CHARS = 2_000
_ENDINGS = (".", "!", "$", "**", "\\)", "\\]")
_SENTENCE_BREAK = re.compile(r"[.!?;]\s+")
_ENDS_ON_DIGIT = re.compile(r"\d[\s*$]*$")
# Groups of three after commas or (thin) spaces belong to the number, and so does a power of ten
# (`6.02e23`, `6.02 \times 10^{23}`, `6.02×10²³`). No nested quantifiers (linear).
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:[,\u2009\u202f\u00a0 ]\d{3})+(?![\d])|\d+)(?:\.\d+)?(?:/\d+)?"
                     r"(?:[eE][+-]?\d{1,4}|\s*(?:\\times|\\cdot|[×x*·])\s*10(?:\^\{?[+-]?\d{1,4}\}?|[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+))?"
                     r"|-?\.\d+")
_OPERAND_BEFORE = set("+-*/^_{×÷·\\") | set("0123456789")
_AFTER_RESULT = re.compile(r"[\d=+*/^×÷<>{}\\]|-\s*\d")
# Units after a number (`12 \text{ cm}^2`, `12 m^2`) are neither the answer nor a computation.
_UNIT_MARKUP = re.compile(r"\\(?:text|mathrm|mbox)\s*\{[^{}]*\}(?:\^\{?\d\}?)?|[A-Za-z]\^\{?\d\}?")


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
    """The maths a statement ends with (`... is $\\frac{1}{2}$`), or after its last `=`; None if it ends otherwise."""
    for opening, closing in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if statement.endswith(closing):
            body = statement[:-len(closing)].rstrip("$")
            start = body.rfind(opening)
            if start < 0:
                return None
            math = body[start + len(opening):].strip("$ ")
            return math.rsplit("=", 1)[-1].strip() or None
    return None


def _last_result(statement: str) -> str | None:
    """The statement's last number, if it is a result rather than an operand of a computation."""
    statement = _UNIT_MARKUP.sub(" ", statement)
    last = None
    for last in _NUMBER.finditer(statement):
        pass
    if last is None:
        return None
    before = statement[:last.start()].rstrip()
    if before and (before[-1] in _OPERAND_BEFORE or (last.group()[0] == "-" and (before[-1].isalnum() or
                                                                                before[-1] in ")}"))):
        return None
    if _AFTER_RESULT.search(statement[last.end():]):
        return None
    return last.group().rstrip(",") or None


def fallback_answer(text: str, complete: bool = False) -> str | None:
    """The answer the final statement of `text` commits to (rules in the module docstring), or None.

    `complete`: the response ended on its own (not cut at a length limit), see rule 2."""
    statement = _final_statement(text, complete)
    if statement is None:
        return None
    math = _closing_math(statement)
    if math is not None or statement.endswith(("$", "\\)", "\\]")):
        return math
    return _last_result(statement)
