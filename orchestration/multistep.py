"""Built-in problems that take several steps, for process supervision (`data.source: multistep`).

Levels:
    1  two operations               "Compute (4 + 7) * 3."
    2  three operations             "Compute (4 + 7) * 3 - 5."
    3  four operations              "Compute ((4 + 7) * 3 - 5) / 4."       (always an exact integer)
    4  a linear equation            "Solve for x: 3x + 4 = 19."           (checked by substituting the solution)

The prompt asks for one calculation per line and the answer in `\\boxed{}`, so the steps are the lines
(`verifiers.steps.segment`, mode "lines") and every step of honest work makes a claim the rule checker
(`verifiers.math.check_steps`) can judge. The format is shown once: the prompt is a chat whose first turn is a
worked example of the same level (`WORKED_EXAMPLES`: the question, then its solution one calculation per line),
and the problem is the second question. (`worked_example=False` gives the earlier single question that named the
format inline, "such as `4 + 7 = 11`": SmolLM2-135M solved 5% of level-1 samples with it and copied the
example line into its answers; with the worked example, 31% at temperature 0.7. docs/process_supervision.md.)
The worked problem itself is never drawn. Each item's `meta["max_rewarded_steps"]` is its operations + 1 (the
answer step): process supervision pays no more steps than the work takes (`verifiers.steps.progress_rewards`);
`meta["path"]` lists the values an honest solution computes (`(4 + 7) * 3`: 11, 33), which `loop.path_labels`
uses to label a true step that computes none of them 0 (`verifiers.steps.mark_off_path`).
Gold answers are computed from the parameters, never from model text; train and held-out problems are split by
a hash of the problem, as for `orchestration.arithmetic`.

    python -m orchestration.multistep --level 2 -n 3     # print a few problems
"""

from __future__ import annotations

import random

from orchestration.arithmetic import split_of, worked_example_chat
from orchestration.tasks import TaskItem

LEVELS = (1, 2, 3, 4)
OPERATIONS = {1: 2, 2: 3, 3: 4, 4: 2}  # calculations an honest solution takes (level 4: subtract, then divide)
STEP_INSTRUCTION = "Work it out one calculation per line, then put the final answer in \\boxed{}."
# worked_example=False: the earlier prompt, the format named inline (its example line was copied into answers)
INLINE_INSTRUCTION = (
    "Work it out one step per line, each line one calculation such as `4 + 7 = 11`, then put the "
    "final answer in \\boxed{}."
)
# level -> (key, question, its solution one calculation per line): the format, shown once before the problem
WORKED_EXAMPLES = {
    1: ("1:(2 + 5) * 3", "Compute (2 + 5) * 3.", "2 + 5 = 7\n7 * 3 = 21\n\\boxed{21}"),
    2: ("2:(2 + 5) * 3 - 4", "Compute (2 + 5) * 3 - 4.", "2 + 5 = 7\n7 * 3 = 21\n21 - 4 = 17\n\\boxed{17}"),
    3: (
        "3:((2 + 5) * 3 - 1) / 4",
        "Compute ((2 + 5) * 3 - 1) / 4.",
        "2 + 5 = 7\n7 * 3 = 21\n21 - 1 = 20\n20 / 4 = 5\n\\boxed{5}",
    ),
    4: ("4:2x+3=11", "Solve for x: 2x + 3 = 11.", "2x = 11 - 3 = 8\nx = 8 / 2 = 4\n\\boxed{4}"),
}


def _chain(rng: random.Random, level: int) -> tuple[str, str, int, list[int]]:
    """(key, question, answer, the values an honest solution computes, in order)."""
    a, b, c = rng.randint(1, 12), rng.randint(1, 12), rng.randint(2, 9)
    value, text = (a + b) * c, f"({a} + {b}) * {c}"
    path = [a + b, value]
    if level >= 2:
        d = rng.randint(1, min(value - 1, 30))
        value, text = value - d, f"{text} - {d}"
        path.append(value)
    if level >= 3:
        divisors = [e for e in range(2, 10) if value % e == 0]
        if not divisors:
            return _chain(rng, level)
        e = rng.choice(divisors)
        value, text = value // e, f"({text}) / {e}"
        path.append(value)
    return f"{level}:{text}", f"Compute {text}.", value, path


def _equation(rng: random.Random) -> tuple[str, str, int, list[int]]:
    a = rng.choice([n for n in range(-9, 10) if n not in (0, 1)])
    x, b = rng.randint(-12, 12), rng.randint(-20, 20)
    c = a * x + b
    lhs = f"{a}x" + (f" + {b}" if b > 0 else f" - {-b}" if b < 0 else "")
    return f"4:{a}x+{b}={c}", f"Solve for x: {lhs} = {c}.", x, [c - b, x]  # ax = c - b, then x


class MultiStepTasks:
    """An endless, deterministic stream: `item(i)` depends only on (levels, split, seed, i)."""

    def __init__(
        self,
        levels: int | list[int] = 2,
        split: str = "train",
        seed: int = 0,
        held_out_fraction: float = 0.3,
        worked_example: bool = True,
    ):
        levels = [levels] if isinstance(levels, int) else list(levels)
        if not levels or any(level not in LEVELS for level in levels):
            raise ValueError(f"multistep levels must be a non-empty subset of {LEVELS}, got {levels}")
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.levels, self.split, self.seed, self.held_out_fraction = levels, split, seed, held_out_fraction
        self.worked_example = worked_example

    def __len__(self) -> None:
        return None

    def item(self, index: int) -> TaskItem:
        rng = random.Random(f"multistep:{self.seed}:{self.split}:{index}")
        level = self.levels[index % len(self.levels)]
        for _ in range(10_000):
            key, question, value, path = _equation(rng) if level == 4 else _chain(rng, level)
            if split_of(key, self.held_out_fraction) == self.split and key != WORKED_EXAMPLES[level][0]:
                meta = {
                    "level": level,
                    "steps": "lines",
                    "max_rewarded_steps": OPERATIONS[level] + 1,
                    "path": [str(v) for v in path],
                }
                if level == 4:
                    meta["substitute"] = {"x": str(value)}
                return TaskItem(
                    id=f"multistep-{key}",
                    prompt=self._prompt(level, question),
                    verifier="math",
                    gold=str(value),
                    meta=meta,
                )
        raise RuntimeError(f"no level-{level} problem falls in split {self.split!r}")  # unreachable in practice

    def _prompt(self, level: int, question: str) -> str | list[dict[str, str]]:
        if not self.worked_example:
            return f"{question} {INLINE_INSTRUCTION}"
        _, example, solution = WORKED_EXAMPLES[level]
        return worked_example_chat(example, solution, question, STEP_INSTRUCTION)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--level", type=int, default=2, choices=LEVELS)
    parser.add_argument("--split", default="train", choices=("train", "test"))
    parser.add_argument("-n", type=int, default=5)
    args = parser.parse_args(argv)
    source = MultiStepTasks([args.level], args.split)
    for i in range(args.n):
        item = source.item(i)
        chat = [item.prompt] if isinstance(item.prompt, str) else item.prompt
        turns = [turn if isinstance(turn, str) else f"[{turn['role']}] {turn['content']}" for turn in chat]
        print(item.id, *turns, f"gold: {item.gold}", sep="\n  ")


if __name__ == "__main__":
    main()
