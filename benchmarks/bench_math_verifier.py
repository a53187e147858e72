"""Throughput of the math verifier on a realistic mix of model responses: checks per second.

Mix (seeded): 70% numeric answers (boxed integers, fractions, decimals, GSM8K `####`), 20% symbolic
(expansions, radicals, tuples, sets: these go to the sympy worker processes), 10% garbage (no answer,
unparseable text, huge powers). Compares, in one run on this machine:
    sequential    `check` in a loop (one sympy worker)
    check_batch   in-process fast path + the sympy part spread over a pool of worker processes
and prints the ratio. Also reports the numeric fast path alone (never touches sympy).

    python benchmarks/bench_math_verifier.py            # 2000 checks, a few seconds
    python benchmarks/bench_math_verifier.py --n 2000 --max-workers 4
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from verifiers.math import check, check_batch  # noqa: E402

COT = "Let's think step by step. First we compute the pieces, then combine them.\n"


def _numeric(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(1, 999), rng.randint(2, 99)
    right = rng.random() < 0.6
    kind = rng.randrange(4)
    if kind == 0:
        return f"{a}", COT + f"So the total is \\boxed{{{a if right else a + 1}}}."
    if kind == 1:
        return f"\\frac{{{a}}}{{{b}}}", COT + f"The answer is \\boxed{{\\dfrac{{{a}}}{{{b if right else b + 1}}}}}."
    if kind == 2:
        return f"{a / 8}", COT + f"The answer is {a / 8 if right else a / 8 + 0.5}."
    return f"{a * 1000}", COT + f"She earns {a:,},000 dollars.\n#### {a * 1000 if right else a}"


def _symbolic(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(1, 99), rng.randint(1, 99)
    right = rng.random() < 0.5
    kind = rng.randrange(4)
    if kind == 0:
        gold = f"x^{{2}} + {a + b} x + {a * b}"
        return gold, COT + f"Expanding, \\boxed{{(x+{a})(x+{b if right else b + 1})}}."
    if kind == 1:
        return f"{a}\\sqrt{{2}}", COT + f"\\boxed{{\\sqrt{{{2 * a * a if right else 2 * a * a + 1}}}}}"
    if kind == 2:
        return f"({a}, {b})", COT + f"The point is \\boxed{{({a}, {b})}}." if right else \
            COT + f"The point is \\boxed{{({b}, {a + 1})}}."
    return f"\\{{{a}, {a + b}\\}}", COT + f"\\boxed{{\\{{{a + b}, {a if right else a + 2}\\}}}}"


def _garbage(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(3)
    if kind == 0:
        return "7", COT + "I am not sure how to finish this."
    if kind == 1:
        return "7", COT + "\\boxed{__import__('os').system('ls')}"
    return "7", COT + f"\\boxed{{9^{{9^{{{rng.randint(5, 9)}}}}}}}"


CATEGORIES = {"numeric": (0.0, 0.7, _numeric), "symbolic": (0.7, 0.9, _symbolic), "garbage": (0.9, 1.0, _garbage)}


def make_mix(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(category, response, gold) triples in the 70/20/10 mix."""
    rng = random.Random(seed)
    mix = []
    for _ in range(n):
        u = rng.random()
        category = next(name for name, (low, high, _) in CATEGORIES.items() if low <= u < high)
        gold, response = CATEGORIES[category][2](rng)
        mix.append((category, response, gold))
    return mix


def _rate(fn, n: int) -> tuple[float, list]:
    start = time.perf_counter()
    result = fn()
    return n / (time.perf_counter() - start), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="responses in the mix")
    parser.add_argument("--max-workers", type=int, default=None, help="worker processes for check_batch")
    args = parser.parse_args()

    # Each measurement gets fresh items (another seed): sympy caches results, and so would repeats.
    warm_up, by_category, mix, batch_mix = (make_mix(n, seed) for seed, n in enumerate((100, args.n, args.n, args.n)))
    responses, golds = [r for _, r, _ in mix], [g for _, _, g in mix]
    check_batch([r for _, r, _ in warm_up], [g for _, _, g in warm_up], max_workers=args.max_workers)  # start workers

    for category in CATEGORIES:
        rows = [(r, g) for c, r, g in by_category if c == category]
        rate, _ = _rate(lambda: [check(r, g) for r, g in rows], len(rows))
        print(f"sequential check(), {category:8s} only: {rate:10.0f} checks/s  ({len(rows)} checks)")
    sequential_rate, sequential = _rate(lambda: [check(r, g) for r, g in zip(responses, golds)], args.n)
    batch_responses, batch_golds = [r for _, r, _ in batch_mix], [g for _, _, g in batch_mix]
    batch_rate, batch = _rate(lambda: check_batch(batch_responses, batch_golds, max_workers=args.max_workers), args.n)
    methods: dict[str, int] = {}
    for outcome in batch:
        key = outcome.details.get("method") or outcome.reason.split(":")[0]
        methods[key] = methods.get(key, 0) + 1
    print(f"mix of {args.n} (decided by: {methods}); fraction correct {sum(o.correct for o in batch) / args.n:.2f}")
    print(f"sequential check(), whole mix:     {sequential_rate:10.0f} checks/s")
    print(f"check_batch (process pool):        {batch_rate:10.0f} checks/s  "
          f"(max_workers={args.max_workers or os.cpu_count()})")
    print(f"ratio check_batch / sequential:    {batch_rate / sequential_rate:.2f}x")


if __name__ == "__main__":
    main()
