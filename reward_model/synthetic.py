"""Outcome records shaped like a small policy's arithmetic output, for tests, benchmarks and a first run.

Each problem gets one GRPO-like group of responses. Right answers are complete and boxed, in varied
wording and length. Wrong answers are one of four kinds seen from small models:

    rambling    long, repetitive working that is cut off before any answer
    hedge       wavers between two numbers (the right one among them) and boxes the wrong one
    unanswered  restates the task or stalls, no final answer
    slip        looks exactly like a right answer, but one arithmetic step is off (a carry, a sign)

Train and held-out problems are disjoint (a hash of the question picks the split). Only `slip` cannot be
told apart by surface features: it needs arithmetic, which a 22M encoder barely
learns, or the gold answer, which every record carries as `reference` (for a reference-aware RM,
`reward_model.train --reference`). Each record carries its `kind` so that weakness can be measured apart.

    python -m reward_model.synthetic --output-dir rm_data      # rm_data/train.jsonl, rm_data/heldout.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
from dataclasses import dataclass

from reward_model.data import OutcomeRecord

WRONG_KINDS = ("rambling", "hedge", "unanswered", "slip")


@dataclass(frozen=True)
class TaggedRecord:
    record: OutcomeRecord
    kind: str  # "correct" or one of WRONG_KINDS


def _problem(rng: random.Random) -> tuple[str, str, int]:
    """(prompt, working, answer) for a + b, a - b or a * b + c."""
    form = rng.choice(["add", "sub", "muladd"])
    if form == "muladd":
        a, b, c = rng.randint(2, 12), rng.randint(2, 19), rng.randint(1, 50)
        return f"What is {a} * {b} + {c}?", f"{a} * {b} = {a * b}, and {a * b} + {c}", a * b + c
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    op, value = ("+", a + b) if form == "add" else ("-", a - b)
    return f"What is {a} {op} {b}?", f"{a} {op} {b}", value


def _correct(rng: random.Random, question: str, working: str, answer: int) -> str:
    return rng.choice(
        [
            f"We compute {working} = {answer}.\n\nThe answer is \\boxed{{{answer}}}.",
            f"{working} = {answer}\n\n\\boxed{{{answer}}}",
            f"Let's solve this step by step.\nFirst, we evaluate {working}.\nThis gives {answer}.\n"
            f"So the final answer is \\boxed{{{answer}}}.",
            f'To answer "{question}", calculate {working}, which equals {answer}. Therefore the result is '
            f"\\boxed{{{answer}}}.",
            f"**Solution:** {working} = {answer}.\n**Answer:** \\boxed{{{answer}}}",
        ]
    )


def _slip(rng: random.Random, answer: int) -> int:
    return answer + rng.choice([-10, -2, -1, 1, 2, 10])


def _wrong(rng: random.Random, kind: str, question: str, working: str, answer: int) -> str:
    if kind == "slip":  # a right-looking answer with one wrong step
        return _correct(rng, question, working, _slip(rng, answer))
    if kind == "hedge":
        other = _slip(rng, answer)
        first, second = rng.sample([answer, other], 2)
        return rng.choice(
            [
                f"{working} is either {first} or {second}. I think it is {other}, but it could be {answer}.\n"
                f"\\boxed{{{other}}}",
                f"Hmm, {working}... maybe {first}? Or {second}. Let me guess \\boxed{{{other}}}",
            ]
        )
    if kind == "unanswered":
        return rng.choice(
            [
                f"The question asks: {question} We need to find the value.",
                f"To solve this, we need to calculate {working}. Let's think about it carefully.",
                "I'm not sure how to solve this problem.",
                f"{question}\n{question}",
            ]
        )
    step = f"We need {working}. Let me break it down. "  # rambling: repeats and is cut off mid-sentence
    filler = rng.choice(["First we look at the digits", "Then we carry the tens", "Now we check the units"])
    return step + " ".join(f"{filler} again, and so on." for _ in range(rng.randint(6, 14))) + " So the"


def in_split(question: str, split: str) -> bool:
    """A hash of the question puts one problem in one split (1 in 4 held out), whatever the seed."""
    heldout = int(hashlib.sha256(question.encode()).hexdigest(), 16) % 4 == 0
    return heldout == (split == "heldout")


def _cycle(kinds: tuple[str, ...], rng: random.Random):
    """The wrong kinds in shuffled rounds: every kind equally often, so a small sample's mix is stable."""
    while True:
        yield from rng.sample(kinds, len(kinds))


def make_tagged_records(
    n_problems: int, seed: int, split: str = "train", group_size: int = 8, wrong_kinds: tuple[str, ...] = WRONG_KINDS
) -> list[TaggedRecord]:
    """`n_problems` distinct problems of `split` ("train" | "heldout"), one group of `group_size` responses
    each, 2 to group_size - 2 of them correct; the wrong ones cycle through `wrong_kinds`."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    rng = random.Random(seed)
    kinds = _cycle(wrong_kinds, rng)
    tagged, seen = [], set()
    for p in range(n_problems):
        question, working, answer = _problem(rng)
        while question in seen or not in_split(question, split):
            question, working, answer = _problem(rng)
        seen.add(question)
        prompt = f"{question} Put your final answer in \\boxed{{}}."
        n_correct = rng.randint(2, group_size - 2)
        for k in range(group_size):
            kind = "correct" if k < n_correct else next(kinds)
            text = (
                _correct(rng, question, working, answer)
                if kind == "correct"
                else _wrong(rng, kind, question, working, answer)
            )
            record = OutcomeRecord(
                prompt, text, float(kind == "correct"), group=f"{split}:{seed}:{p}", reference=str(answer)
            )
            tagged.append(TaggedRecord(record, kind))
    rng.shuffle(tagged)
    return tagged


def make_records(n_problems: int, seed: int, split: str = "train", group_size: int = 8) -> list[OutcomeRecord]:
    return [t.record for t in make_tagged_records(n_problems, seed, split, group_size)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reward_model.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--train-problems", type=int, default=40)
    parser.add_argument("--heldout-problems", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    for split, n in (("train", args.train_problems), ("heldout", args.heldout_problems)):
        with open(os.path.join(args.output_dir, f"{split}.jsonl"), "w", encoding="utf-8") as f:
            for t in make_tagged_records(n, args.seed, split):
                f.write(
                    json.dumps(
                        {
                            "prompt": t.record.prompt,
                            "response": t.record.response,
                            "outcome": t.record.outcome,
                            "group": t.record.group,
                            "kind": t.kind,
                            "reference": t.record.reference,
                        }
                    )
                    + "\n"
                )
    print(f"wrote {args.output_dir}/train.jsonl and {args.output_dir}/heldout.jsonl")


if __name__ == "__main__":
    main()
