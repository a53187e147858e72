"""Find the final answer(s) a model response commits to (private helper of `verifiers.math`).

Only the committed text is read: what follows the last `</think>`, up to the first chat-template stop marker
(`<|im_start|>`, `<|im_end|>`, `<|endoftext|>`, `<|eot_id|>`, `</s>`, ...: what follows one is another turn, not
this answer); a response whose `<think>` block never closes is still thinking and has no answer. In it, by
order of preference:
1. every `\\boxed{...}` / `\\fbox{...}` (nested braces; an unbalanced, truncated one is skipped), unless an
   explicit "The final answer is ..." / "Final answer: ..." statement follows the last box and states a value
   (it has a digit and no prose): then that statement is the answer and the boxes were working
   (`\\boxed{200} ... \\boxed{255} ... The final answer is $10,455$.` answers 10455);
2. else the last GSM8K `#### ...` line, or else the last `The (final) answer is ...` / `Answer: ...`;
   an earlier such statement that is a plain number is kept too, so "The answer is 3. ... The answer
   is 4." states two answers;
3. else (optionally) the final statement's number or maths (`_math_fallback`).
`extract_answers` returns all of them, distinct texts in the order written: the caller decides whether
several answers hedge (wrong) or list the items of a list answer. More than `MAX_ANSWERS` boxes is a
spray of guesses and is marked `excess`.

Model text is hostile, so every scan here is linear: `str.rfind`/`str.count` over the whole text (C speed,
so a 10 MB response still costs milliseconds), regexes without nested quantifiers, and regex scans limited
to the tail of the response, where a final answer lives. An answer longer than `MAX_ANSWER_CHARS` is cut
there (it will not parse, so it cannot be judged correct by accident).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from verifiers._math_fallback import fallback_answer
from verifiers._math_latex import normalize
from verifiers._math_number import parse_number

MAX_ANSWER_CHARS = 1000  # a longer "answer" is not an answer; it is cut and will fail to parse
MAX_ANSWERS = 16  # more boxed answers than this is a spray of guesses, not an answer
_TAIL_CHARS = 20_000  # phrases such as "The answer is" are searched for in this tail only

_ANSWER_PHRASE = re.compile(
    r"(?:the\s+final\s+answer\s+is|the\s+answer\s+is|final\s+answer\s*:|answer\s*:)[ \t:]*", re.IGNORECASE
)
_INLINE_MATH = re.compile(r"\$([^$\n]{1,1000})\$")
_FINAL_PHRASE = re.compile(r"(?:the\s+final\s+answer\s+is|final\s+answer\s*:)[ \t:]*", re.IGNORECASE)
# A value, not prose: a digit, and no run of 4+ letters outside a `\command` (`\frac`, `\sqrt` are fine).
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{4,}")
# What a chat template or a base model's stop text leaves at the end of a completion; the first one ends it.
STOP_MARKERS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|eot_id|>",
    "<|end|>",
    "<|start_header_id|>",
    "<|user|>",
    "<|assistant|>",
    "<end_of_turn>",
    "<start_of_turn>",
    "</s>",
)
_LEADING_SPACE = re.compile(r"\s*")
_MAX_LEADING_MARKERS = 4  # a leaked chat header has one or two; past these, a marker ends the answer again
# "Final Answer: The volume of $ABCDEFGH$ is 120": a sentence that names what it gives is read after its verb.
_COPULA = re.compile(r"\s(?:is|are|equals|was|were)\s", re.IGNORECASE)


@dataclass(frozen=True)
class Answers:
    items: tuple[str, ...]  # the distinct final answers, in the order written (empty: no answer)
    excess: bool = False  # more than MAX_ANSWERS boxes


def committed_text(text: str) -> str:
    """The part of a response that can state its answer: after the last `</think>`; "" inside an open `<think>`;
    up to the first stop marker after the answer began (markers before any text, a leaked header, are skipped)."""
    close = text.rfind("</think>")
    if close >= 0:
        text = text[close + len("</think>") :]
    elif "<think>" in text:
        return ""
    if "<" not in text:
        return text
    start, skipped, leading = 0, True, 0
    while skipped and leading < _MAX_LEADING_MARKERS:  # a leaked header (`<|im_start|>assistant`) is no end
        leading += 1
        start = _LEADING_SPACE.match(text, start).end()
        skipped = False
        for marker in STOP_MARKERS if text.startswith("<", start) else ():
            if text.startswith(marker, start):
                start, skipped = start + len(marker), True
    ends = [pos for pos in (text.find(marker, start) for marker in STOP_MARKERS) if pos >= 0]
    return text[start : min(ends, default=len(text))]


def _braced(text: str, start: int) -> str | None:
    """Contents of the brace group opening at `text[start] == '{'`, or None if unbalanced or too long."""
    depth = 0
    end = min(len(text), start + MAX_ANSWER_CHARS + 2)
    for i in range(start, end):
        ch = text[i]
        if ch == "{":  # `\{` and `\}` (set braces) nest too, so they need no special case
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return None


def _box_content(text: str, pos: int) -> str | None:
    """The argument of the `\\boxed`/`\\fbox` at `pos`: a brace group, or (`\\boxed 5`) the next word."""
    i = pos + (len("\\boxed") if text.startswith("\\boxed", pos) else len("\\fbox"))
    while i < len(text) and text[i] == " ":
        i += 1
    if i < len(text) and text[i] == "{":
        return _braced(text, i)
    word = text[i : i + MAX_ANSWER_CHARS].split(None, 1)
    return word[0].rstrip("$.") if word else None


def _boxes(text: str) -> list[str]:
    """Non-empty balanced box contents, oldest first, from the last MAX_ANSWERS + 1 boxes of `text`."""
    found = []
    boxed, fbox = text.rfind("\\boxed"), text.rfind("\\fbox")
    for _ in range(MAX_ANSWERS + 1):
        pos = max(boxed, fbox)
        if pos < 0:
            break
        if pos == boxed:  # search again only for the kind just used (each rfind may scan the whole text)
            boxed = text.rfind("\\boxed", 0, pos)
        else:
            fbox = text.rfind("\\fbox", 0, pos)
        content = (_box_content(text, pos) or "").strip()
        if content and not content.startswith(("\\boxed", "\\fbox")):  # `\boxed{\boxed{5}}`: the inner one counts
            found.append(content[:MAX_ANSWER_CHARS])
    return found[::-1]


def _clean(answer: str) -> str | None:
    """Trim what surrounds an answer in prose: markdown bold, `$...$`, a final full stop."""
    answer = answer.strip()[:MAX_ANSWER_CHARS]
    math = _INLINE_MATH.search(answer)
    if math and not answer[: math.start()].strip(" *"):  # the phrase is followed by a `$...$` formula
        answer = math.group(1)
    answer = answer.strip().strip("*").strip()
    if answer.startswith("\\boxed") or answer.startswith("\\fbox"):
        answer = (_boxes(answer) or [answer])[-1]
    while answer.endswith((".", "$", "*")) and not answer.endswith("\\."):
        answer = answer[:-1].rstrip()
    answer = answer.strip("$ ").strip()
    return answer or None


def _after_marker(text: str) -> str | None:
    """The GSM8K `#### 42` answer: the rest of the line after the last `####`."""
    pos = text.rfind("####")
    if pos < 0:
        return None
    line = text[pos + 4 : pos + 4 + MAX_ANSWER_CHARS].split("\n", 1)[0]
    return _clean(line)


def _after_phrase(tail: str, match: re.Match) -> str | None:
    rest = tail[match.end() : match.end() + MAX_ANSWER_CHARS]
    line = rest.split("\n", 1)[0]
    if not line.strip() and "\n" in rest:  # "Final answer:\n42"
        line = rest.lstrip().split("\n", 1)[0]
    # A sentence ends at ". " (a decimal point is followed by a digit, not a space).
    sentence = line.split(". ", 1)[0]
    copula = None
    for copula in _COPULA.finditer(sentence):
        pass
    if copula and _PROSE.search(sentence[: copula.start()]):  # "Final Answer: The volume of $V$ is 120"
        sentence = sentence[copula.end() :]
    return _clean(sentence)


def _final_after_boxes(text: str) -> str | None:
    """A "The final answer is ..." value stated after the last box (then the boxes were working), else None."""
    last_box = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    tail = text[last_box:][-_TAIL_CHARS:]
    phrase = None
    for phrase in _FINAL_PHRASE.finditer(tail):
        pass
    if phrase is None or phrase.start() == 0:
        return None
    answer = _after_phrase(tail, phrase)
    if answer and any(ch.isdigit() for ch in answer) and not _PROSE.search(answer) and "\\boxed" not in answer:
        return answer
    return None


def _stated(tail: str) -> list[str]:
    """The `####` / "The answer is" answer, after any earlier phrase answer that is a plain number."""
    phrases = deque(_ANSWER_PHRASE.finditer(tail), maxlen=MAX_ANSWERS)
    answers = [answer for answer in (_after_phrase(tail, match) for match in phrases) if answer]
    final = _after_marker(tail) or (answers.pop() if answers else None)
    if final is None:
        return []
    return [a for a in answers if a != final and parse_number(normalize(a)) is not None] + [final]


def _distinct(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def extract_answers(text: str, *, fallback_last_number: bool = True, complete: bool = False) -> Answers:
    """Every final answer `text` commits to (see the module docstring); empty when it gives none."""
    if not isinstance(text, str) or not text:
        return Answers(())
    text = committed_text(text)
    boxes = _boxes(text)
    if boxes and (final := _final_after_boxes(text)):
        return Answers((final,))
    if boxes:
        return Answers(_distinct(boxes), excess=text.count("\\boxed") + text.count("\\fbox") > MAX_ANSWERS)
    stated = _stated(text[-_TAIL_CHARS:])
    if stated:
        return Answers(_distinct(stated))
    answer = fallback_answer(text, complete) if fallback_last_number else None
    return Answers((answer[:MAX_ANSWER_CHARS],) if answer else ())


def gold_boxes(text: str) -> str | None:
    """Every distinct box of a gold, joined by ", " (one answer made of all its parts), or None without a box."""
    boxes = _distinct(_boxes(text))
    return ", ".join(boxes) if boxes else None


def extract_answer(text: str, *, fallback_last_number: bool = True, boxed_only: bool = False) -> str | None:
    """The final answer in `text`, as a string, or None when the response gives no answer.

    Several distinct answers come back joined by ", " (that is how `verifiers.math.check` reads them).
    `boxed_only=True` returns the last `\\boxed{}`/`\\fbox{}` answer or None (e.g. to read MATH gold solutions).

    >>> extract_answer("So x = 3, hence \\\\boxed{\\\\frac{1}{2}}.")
    '\\\\frac{1}{2}'
    >>> extract_answer("Natalia sold 48 + 24 = 72 clips.\\n#### 72")
    '72'
    """
    if not isinstance(text, str) or not text:
        return None
    if boxed_only:
        boxes = _boxes(text)
        return boxes[-1] if boxes else None
    answers = extract_answers(text, fallback_last_number=fallback_last_number)
    if answers.excess or not answers.items:
        return None
    return ", ".join(answers.items)
