"""Find the final answer in a model response (private helper of `verifiers.math`).

Order of preference: the last `\\boxed{...}` / `\\fbox{...}` (nested braces), then GSM8K `#### ...`,
then `The (final) answer is ...` / `Answer: ...`, then (optionally) the last number in the text.

Model text is hostile, so every scan here is linear: `str.rfind` over the whole text (C speed, so a
10 MB response still costs milliseconds), regexes without nested quantifiers, and regex scans limited
to the tail of the response, where a final answer lives. An answer longer than `MAX_ANSWER_CHARS`
is cut there (it will not parse, so it cannot be judged correct by accident).
"""

from __future__ import annotations

import re

MAX_ANSWER_CHARS = 1000  # a longer "answer" is not an answer; it is cut and will fail to parse
_TAIL_CHARS = 20_000  # phrases such as "The answer is" are searched for in this tail only
_NUMBER_TAIL_CHARS = 2_000  # the last-number fallback looks at this tail only
_MAX_BOXED_TRIES = 8  # unbalanced \boxed{ (a truncated generation) falls back to an earlier one

_ANSWER_PHRASE = re.compile(
    r"(?:the\s+final\s+answer\s+is|the\s+answer\s+is|final\s+answer\s*:|answer\s*:)[ \t:]*", re.IGNORECASE)
_INLINE_MATH = re.compile(r"\$([^$\n]{1,1000})\$")
# No nested quantifiers: `[\d,]*` cannot backtrack into `\d`, so this is linear on "1,1,1,...".
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")


def _braced(text: str, start: int) -> str | None:
    """Contents of the brace group opening at `text[start] == '{'`, or None if unbalanced or too long."""
    depth = 0
    end = min(len(text), start + MAX_ANSWER_CHARS + 2)
    for i in range(start, end):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
        elif ch == "\\" and i + 1 < end and text[i + 1] in "{}":
            # `\{` and `\}` (set braces) still nest, so let them count; nothing to skip.
            continue
    return None


def _last_boxed(text: str) -> str | None:
    pos = len(text)
    for _ in range(_MAX_BOXED_TRIES):
        boxed, fbox = text.rfind("\\boxed", 0, pos), text.rfind("\\fbox", 0, pos)
        pos = max(boxed, fbox)
        if pos < 0:
            return None
        i = pos + (len("\\boxed") if pos == boxed else len("\\fbox"))
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == "{":
            content = _braced(text, i)
            if content is not None:
                return content
        elif i < len(text):  # `\boxed 5`: the argument is the next word
            word = text[i:i + MAX_ANSWER_CHARS].split(None, 1)
            if word:
                return word[0].rstrip("$.")
    return None


def _clean(answer: str) -> str | None:
    """Trim what surrounds an answer in prose: markdown bold, `$...$`, a final full stop."""
    answer = answer.strip()[:MAX_ANSWER_CHARS]
    math = _INLINE_MATH.search(answer)
    if math and not answer[:math.start()].strip(" *"):  # the phrase is followed by a `$...$` formula
        answer = math.group(1)
    answer = answer.strip().strip("*").strip()
    if answer.startswith("\\boxed") or answer.startswith("\\fbox"):
        answer = _last_boxed(answer) or answer
    while answer.endswith((".", "$", "*")) and not answer.endswith("\\."):
        answer = answer[:-1].rstrip()
    answer = answer.strip("$ ").strip()
    return answer or None


def _after_marker(text: str) -> str | None:
    """The GSM8K `#### 42` answer: the rest of the line after the last `####`."""
    pos = text.rfind("####")
    if pos < 0:
        return None
    line = text[pos + 4:pos + 4 + MAX_ANSWER_CHARS].split("\n", 1)[0]
    return _clean(line)


def _after_phrase(tail: str) -> str | None:
    last = None
    for last in _ANSWER_PHRASE.finditer(tail):
        pass
    if last is None:
        return None
    rest = tail[last.end():last.end() + MAX_ANSWER_CHARS]
    line = rest.split("\n", 1)[0]
    if not line.strip() and "\n" in rest:  # "Final answer:\n42"
        line = rest.lstrip().split("\n", 1)[0]
    # A sentence ends at ". " (a decimal point is followed by a digit, not a space).
    sentence = line.split(". ", 1)[0]
    return _clean(sentence)


def _last_number(text: str) -> str | None:
    tail = text[-_NUMBER_TAIL_CHARS:]
    last = None
    for last in _NUMBER.finditer(tail):
        pass
    if last is None:
        return None
    return last.group(0).rstrip(",") or None


def extract_answer(text: str, *, fallback_last_number: bool = True, boxed_only: bool = False) -> str | None:
    """The final answer in `text`, as a string, or None when the response gives no answer.

    `boxed_only=True` accepts only a `\\boxed{}`/`\\fbox{}` answer (e.g. to read MATH gold solutions).

    >>> extract_answer("So x = 3, hence \\\\boxed{\\\\frac{1}{2}}.")
    '\\\\frac{1}{2}'
    >>> extract_answer("Natalia sold 48 + 24 = 72 clips.\\n#### 72")
    '72'
    """
    if not isinstance(text, str) or not text:
        return None
    boxed = _last_boxed(text)
    if boxed is not None and boxed.strip():
        return boxed.strip()[:MAX_ANSWER_CHARS]
    if boxed_only:
        return None
    tail = text[-_TAIL_CHARS:]
    answer = _after_marker(tail) or _after_phrase(tail)
    if answer is not None:
        return answer
    return _last_number(text) if fallback_last_number else None
