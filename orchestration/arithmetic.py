"""Built-in, seeded arithmetic and algebra problems with graded difficulty.

Levels:
    1  one-digit addition            "What is 3 + 5?"          (100 problems)
    2  small-number arithmetic       "What is 9 * 7?"          (a + b, a - b >= 0, a * b with a, b <= 12:
                                                                 429 problems, enough for a 128-problem
                                                                 held-out set; the study's level, see README)
    3  two-digit addition/subtraction "What is 47 - 82?"
    4  multiply then add             "What is 7 * 12 + 5?"
    5  solve a linear equation       "Solve for x: 3x + 4 = 19."
    6  evaluate or simplify          "Compute 2/3 + 5/4." / "Expand (x + 2)(x - 5)."

Every problem is a pure function of (level, its parameters); gold answers are computed with sympy from
those parameters (never from model text). The split a problem belongs to is decided by a hash of its
canonical key, so the train and held-out splits are disjoint whatever seed each side uses.

    python -m orchestration.arithmetic --level 2 --split test -n 6   # print a few problems, in each phrasing
"""

from __future__ import annotations

import hashlib
import random
from typing import NamedTuple

import sympy

from orchestration.phrasings import PHRASINGS, phrase
from orchestration.tasks import TaskItem

LEVELS = (1, 2, 3, 4, 5, 6)
ANSWER_INSTRUCTION = "Put your final answer in \\boxed{}."
# level -> (key, question, answer): with `worked_example`, the prompt is a chat whose first turn asks this question
# and answers it in the asked format; the problem is the second question. SmolLM2-135M answers in \boxed{} 1.6% of
# the time without it and 77% with it (sampled, level 1, the three phrasings: docs/loop.md). It is never drawn.
WORKED_EXAMPLES = {
    1: ("1:2+3", "What is 2 + 3?", "2 + 3 = 5. The answer is \\boxed{5}."),
    2: ("2:4*3", "What is 4 * 3?", "4 * 3 = 12. The answer is \\boxed{12}."),
    3: ("3:25+17", "What is 25 + 17?", "25 + 17 = 42. The answer is \\boxed{42}."),
    4: ("4:3*4+5", "What is 3 * 4 + 5?", "3 * 4 = 12, and 12 + 5 = 17. The answer is \\boxed{17}."),
    5: ("5:2x+3=11", "Solve for x: 2x + 3 = 11.", "2x = 11 - 3 = 8, so x = 8 / 2 = 4. The answer is \\boxed{4}."),
    6: (
        "6f:1/2+1/3",
        "Compute 1/2 + 1/3 as a fraction in lowest terms.",
        "1/2 + 1/3 = 3/6 + 2/6 = 5/6. The answer is \\boxed{\\frac{5}{6}}.",
    ),
}


class Problem(NamedTuple):
    key: str  # canonical, phrasing-free: decides the split
    question: str  # the bare question
    value: sympy.Expr  # the gold answer
    operation: str | None = None  # "+", "-", "*", "*+" for the problems other phrasings can word
    operands: tuple[int, ...] = ()


def _latex(value: sympy.Expr) -> str:
    return sympy.latex(value).replace("\\left", "").replace("\\right", "")


def _level1(rng: random.Random) -> tuple[str, str, sympy.Expr]:
    a, b = rng.randint(0, 9), rng.randint(0, 9)
    return Problem(f"1:{a}+{b}", f"What is {a} + {b}?", sympy.Integer(a + b), "+", (a, b))


def _level2(rng: random.Random) -> tuple[str, str, sympy.Expr]:
    a, b, op = rng.randint(0, 12), rng.randint(0, 12), rng.choice("+-*")
    if op == "-" and a < b:
        a, b = b, a
    value = a + b if op == "+" else a - b if op == "-" else a * b
    return Problem(f"2:{a}{op}{b}", f"What is {a} {op} {b}?", sympy.Integer(value), op, (a, b))


def _level3(rng: random.Random) -> tuple[str, str, sympy.Expr]:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    op = rng.choice("+-")
    value = a + b if op == "+" else a - b
    return Problem(f"3:{a}{op}{b}", f"What is {a} {op} {b}?", sympy.Integer(value), op, (a, b))


def _level4(rng: random.Random) -> tuple[str, str, sympy.Expr]:
    a, b, c = rng.randint(2, 12), rng.randint(2, 19), rng.randint(1, 50)
    return Problem(f"4:{a}*{b}+{c}", f"What is {a} * {b} + {c}?", sympy.Integer(a * b + c), "*+", (a, b, c))


def _level5(rng: random.Random) -> tuple[str, str, sympy.Expr]:
    x = sympy.Symbol("x")
    a = rng.choice([n for n in range(-9, 10) if n not in (0, 1)])
    solution, b = rng.randint(-12, 12), rng.randint(-20, 20)
    c = a * solution + b
    (root,) = sympy.solve(sympy.Eq(a * x + b, c), x)
    lhs = f"{a}x" + (f" + {b}" if b > 0 else f" - {-b}" if b < 0 else "")
    return Problem(f"5:{a}x+{b}={c}", f"Solve for x: {lhs} = {c}.", root)


def _level6(rng: random.Random) -> tuple[str, str, sympy.Expr]:
    if rng.random() < 0.5:
        p, q = rng.randint(1, 9), rng.randint(2, 9)
        r, s = rng.randint(1, 9), rng.randint(2, 9)
        op = rng.choice("+-")
        left, right = sympy.Rational(p, q), sympy.Rational(r, s)
        value = left + right if op == "+" else left - right
        return Problem(f"6f:{p}/{q}{op}{r}/{s}", f"Compute {p}/{q} {op} {r}/{s} as a fraction in lowest terms.", value)
    x = sympy.Symbol("x")
    a, b = rng.choice([n for n in range(-9, 10) if n != 0]), rng.choice([n for n in range(-9, 10) if n != 0])
    product = sympy.Mul(x + a, x + b, evaluate=False)
    question = f"Expand ({sympy.sstr(x + a)})({sympy.sstr(x + b)})."
    return Problem(f"6e:{min(a, b)},{max(a, b)}:{a},{b}", question, sympy.expand(product))


_GENERATORS = {1: _level1, 2: _level2, 3: _level3, 4: _level4, 5: _level5, 6: _level6}


def split_of(key: str, held_out_fraction: float) -> str:
    """'test' for a stable `held_out_fraction` of problem keys, else 'train' (hash-based, seed-free)."""
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return "test" if bucket < held_out_fraction else "train"


class ArithmeticTasks:
    """An endless, deterministic stream of problems: `item(i)` depends only on (levels, phrasings, split, seed, i).

    Items take the levels in turn, and each level's items the phrasings in turn (`orchestration.phrasings`), so a
    held-out set of n items holds each (level, phrasing) about equally often. An item's id names its problem and,
    unless bare, its phrasing: the same held-out sum may be asked in each phrasing."""

    def __init__(
        self,
        levels: int | list[int] = 1,
        split: str = "train",
        seed: int = 0,
        held_out_fraction: float = 0.1,
        phrasings: tuple[str, ...] | list[str] = ("bare",),
        worked_example: bool = False,
    ):
        levels = [levels] if isinstance(levels, int) else list(levels)
        bad = [lv for lv in levels if lv not in LEVELS]
        if not levels or bad:
            raise ValueError(f"arithmetic levels must be a non-empty subset of {LEVELS}, got {levels}")
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not 0.0 < held_out_fraction < 1.0:
            raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
        unknown = [p for p in phrasings if p not in PHRASINGS]
        if not phrasings or unknown:
            raise ValueError(f"phrasings must be a non-empty subset of {PHRASINGS}, got {list(phrasings)}")
        self.levels, self.split, self.seed, self.held_out_fraction = levels, split, seed, held_out_fraction
        self.phrasings = tuple(phrasings)
        self.worked_example = worked_example

    def __len__(self) -> int | None:  # endless
        return None

    def item(self, index: int) -> TaskItem:
        rng = random.Random(f"{self.seed}:{self.split}:{index}")
        level = self.levels[index % len(self.levels)]
        wanted = self.phrasings[(index // len(self.levels)) % len(self.phrasings)]
        return self.render(level, self.draw(level, rng), wanted, rng)

    def draw(self, level: int, rng: random.Random) -> Problem:
        """A problem of `level` in this split (never the worked example), drawn with `rng`."""
        # Rejection sampling into this split; level 1 has only 100 problems, so cap the tries.
        for _ in range(10_000):
            problem = _GENERATORS[level](rng)
            if split_of(problem.key, self.held_out_fraction) == self.split and problem.key != WORKED_EXAMPLES[level][0]:
                return problem
        raise RuntimeError(f"no level-{level} problem falls in split {self.split!r}")  # unreachable in practice

    def render(self, level: int, problem: Problem, wanted: str, rng: random.Random) -> TaskItem:
        """The task item asking `problem` in the `wanted` phrasing (where it can be worded so)."""
        question, phrasing = phrase(problem.operation, problem.operands, problem.question, wanted, rng)
        suffix = "" if phrasing == "bare" else f"-{phrasing}"
        return TaskItem(
            id=f"arith-{problem.key}{suffix}",
            prompt=self._prompt(level, question),
            verifier="math",
            gold=_latex(problem.value),
            meta={"level": level, "phrasing": phrasing},
        )

    def take(self, n: int) -> list[TaskItem]:
        return [self.item(i) for i in range(n)]

    def _prompt(self, level: int, question: str) -> str | list[dict[str, str]]:
        if not self.worked_example:
            return f"{question} {ANSWER_INSTRUCTION}"
        _, example, answer = WORKED_EXAMPLES[level]
        return worked_example_chat(example, answer, question, ANSWER_INSTRUCTION)


def worked_example_chat(example: str, answer: str, question: str, instruction: str) -> list[dict[str, str]]:
    """A built-in prompt that shows the format once: the worked example and its answer, then the question, each
    question followed by the same `instruction` (arithmetic and multistep prompts alike)."""
    return [
        {"role": "user", "content": f"{example} {instruction}"},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": f"{question} {instruction}"},
    ]


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--level", type=int, nargs="+", default=[1])
    parser.add_argument("--split", default="train", choices=["train", "test"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phrasings", nargs="+", default=list(PHRASINGS), choices=PHRASINGS)
    parser.add_argument("--worked-example", action="store_true", help="open each prompt with the worked example")
    parser.add_argument("-n", type=int, default=5)
    args = parser.parse_args(argv)
    for item in ArithmeticTasks(
        args.level, args.split, args.seed, phrasings=args.phrasings, worked_example=args.worked_example
    ).take(args.n):
        turns = (
            item.prompt
            if isinstance(item.prompt, str)
            else " | ".join(f"[{m['role']}] {m['content']}" for m in item.prompt)
        )
        print(f"{turns}    gold: {item.gold}")


if __name__ == "__main__":
    main()
