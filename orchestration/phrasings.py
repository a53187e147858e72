"""How a built-in arithmetic problem is worded (`data.phrasings`): the same sum asked three ways.

    bare     "What is 3 + 5?"                                   (the form the levels are defined in)
    worded   "What is the sum of 3 and 5?" / "Add 3 and 5."     (the operation in words)
    word     "Mia has 3 marbles and finds 5 more. How many marbles does Mia have now?"   (a word problem)

A policy that learned "a + b" on bare prompts may not have learned to add: held-out accuracy per phrasing
(`eval/*_accuracy_<phrasing>`) shows how far what it learned carries. The phrasing never decides the split:
train and held-out problems are told apart by the problem's own key (`arithmetic.split_of`), so a held-out sum
is unseen in every phrasing. Levels 1-4 have all three; levels 5 and 6 (equations, fractions, expansions) only
the bare form, which they use whatever is asked.
"""

from __future__ import annotations

import random

PHRASINGS = ("bare", "worded", "word")

_NAMES = ("Mia", "Leo", "Ana", "Sam", "Ivy", "Omar", "Zoe", "Ben")
_THINGS = ("apple", "marble", "sticker", "book", "coin", "pencil", "shell", "card")

# operation -> phrasing -> templates over {a}, {b} (and {c} for "*+"), {name}, {things} (plural noun)
_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "+": {
        "worded": ("What is the sum of {a} and {b}?", "Add {a} and {b}.", "What is {a} plus {b}?"),
        "word": (
            "{name} has {a_things} and finds {b} more. How many {things} does {name} have now?",
            "There are {a_things} in a box. {name} puts in {b} more. How many {things} are in the box?",
        ),
    },
    "-": {
        "worded": (
            "What is {a} minus {b}?",
            "Subtract {b} from {a}.",
            "What is the difference when {b} is taken away from {a}?",
        ),
        "word": (
            "{name} has {a_things} and gives away {b}. How many {things} does {name} have left?",
            "There are {a_things} on a table. {name} takes {b} of them. How many {things} are still on the table?",
        ),
    },
    "*": {
        "worded": ("What is {a} times {b}?", "Multiply {a} by {b}.", "What is the product of {a} and {b}?"),
        "word": ("{name} has {a_bags} with {b_things} in each. How many {things} does {name} have in all?",),
    },
    "*+": {
        "worded": ("Multiply {a} by {b}, then add {c}.", "What is the product of {a} and {b}, plus {c}?"),
        "word": (
            "{name} has {a_bags} with {b_things} in each, and another {c_things}. How many {things} "
            "does {name} have in all?",
        ),
    },
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def phrase(operation: str, operands: tuple[int, ...], bare: str, phrasing: str, rng: random.Random) -> tuple[str, str]:
    """(question, the phrasing actually used): `bare` itself, or a template of `phrasing` for `operation` (one of
    `+ - * *+`, with 2 or 3 operands) filled in with names and objects drawn from `rng`. A problem kind without
    that phrasing (an equation, a fraction) keeps its bare question."""
    if phrasing not in PHRASINGS:
        raise ValueError(f"unknown phrasing {phrasing!r}; known: {PHRASINGS}")
    templates = _TEMPLATES.get(operation, {}).get(phrasing)
    if phrasing == "bare" or not templates:
        return bare, "bare"
    a, b, *rest = operands
    c = rest[0] if rest else 0
    thing = rng.choice(_THINGS)
    fields = {
        "a": a,
        "b": b,
        "c": c,
        "name": rng.choice(_NAMES),
        "things": f"{thing}s",
        "a_things": _count(a, thing),
        "b_things": _count(b, thing),
        "c_things": _count(c, thing),
        "a_bags": _count(a, "bag"),
    }
    return rng.choice(templates).format(**fields), phrasing
