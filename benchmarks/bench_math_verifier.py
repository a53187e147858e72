"""Throughput of the math verifier on a realistic mix of model responses (checks per second), and with
`--agreement` its verdicts beside math-verify's on the answer forms and the threat table of issue #22.

Mix (seeded): 70% numeric answers (boxed integers, fractions, decimals, GSM8K `####`), 20% symbolic
(expansions, radicals, tuples, sets: these go to the sympy worker processes), 10% garbage (no answer,
unparseable text, huge powers). Compares, in one run on this machine:
    sequential    `check` in a loop (one sympy worker)
    check_batch   in-process fast path + the sympy part spread over a pool of worker processes
and prints the ratio. Also reports the numeric fast path alone (never touches sympy).

    python benchmarks/bench_math_verifier.py            # 2000 checks, a few seconds
    python benchmarks/bench_math_verifier.py --n 2000 --max-workers 4
    pip install math-verify==0.9.0 && python benchmarks/bench_math_verifier.py --agreement
    python benchmarks/bench_math_verifier.py --public-suite PATH/TO/Math-Verify/tests   # a clone of math-verify

Agreement: every `(gold, response, expected)` row of tests/verifiers/test_math_forms.py (by category) and of
tests/verifiers/test_math_threats.py (expected wrong), judged by `verifiers.math.check(response, gold)` and by
math-verify with its default options, `verify(parse(gold), parse(response))` (a gold without `$` or a box is
given to math-verify as `$gold$`, the way its documentation writes golds). A row agrees when the verdict is the
expected one; a false positive is a wrong answer judged right. The tests assert our verdicts on these rows, so
our column is 100% by construction: the figures to read are math-verify's, and where it is right and we are not
(none here; see docs/verifiers.md for what we still lose on outside these tables).

Public suite: math-verify's own regression tests, read at run time from a clone the user provides (nothing of
them is copied here): every (gold, prediction, expected) row of its test functions that run with default options,
judged by `check(prediction, gold)`. Disagreements are listed with `--verbose`.
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
        return (
            f"({a}, {b})",
            COT + f"The point is \\boxed{{({a}, {b})}}." if right else COT + f"The point is \\boxed{{({b}, {a + 1})}}.",
        )
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


def _math_verify_judge():
    """math-verify's verdict as a function of (response, gold), default options; None if it is not installed."""
    try:
        from math_verify import parse, verify
    except ImportError:
        return None

    def judge(response: str, gold: str) -> bool:
        gold_text = gold if ("$" in gold or "\\boxed" in gold) else f"${gold}$"
        try:
            return bool(verify(parse(gold_text), parse(response)))
        except Exception:  # noqa: BLE001 - a crash is a verdict of "not shown correct"
            return False

    return judge


def agreement_rows() -> dict[str, list[tuple[str, str, bool]]]:
    """Category -> (gold, response, expected): the forms of issue #22 and its threat table (all expected wrong)."""
    from tests.verifiers.test_math_forms import CATEGORIES
    from tests.verifiers.test_math_threats import THREATS

    rows = dict(CATEGORIES)
    rows["threats (all wrong)"] = [(gold, response, False) for table in THREATS.values() for gold, response in table]
    return rows


def agreement() -> None:
    """Print a markdown table: per category, rows, agreement and false positives of both verifiers."""
    math_verify = _math_verify_judge()
    if math_verify is None:
        raise SystemExit("--agreement needs math-verify: pip install math-verify==0.9.0 (or the [bench] extra)")
    print(
        "| category | rows | ours: agree | math-verify: agree | ours: false positives | math-verify: false positives |"
    )
    print("|---|---|---|---|---|---|")
    totals = [0, 0, 0, 0, 0]
    for category, rows in agreement_rows().items():
        ours = [check(response, gold).correct for gold, response, _ in rows]
        theirs = [math_verify(response, gold) for gold, response, _ in rows]
        expected = [e for _, _, e in rows]
        counts = [
            len(rows),
            sum(o == e for o, e in zip(ours, expected)),
            sum(t == e for t, e in zip(theirs, expected)),
            sum(o and not e for o, e in zip(ours, expected)),
            sum(t and not e for t, e in zip(theirs, expected)),
        ]
        totals = [a + b for a, b in zip(totals, counts)]
        print(
            f"| {category} | {counts[0]} | {counts[1]} ({counts[1] / counts[0]:.0%}) | "
            f"{counts[2]} ({counts[2] / counts[0]:.0%}) | {counts[3]} | {counts[4]} |"
        )
        for (gold, response, e), o, t in zip(rows, ours, theirs):
            if t != e:
                print(
                    f"<!-- math-verify {'accepts' if t else 'rejects'}: gold {gold!r}, "
                    f"response ...{response[-60:]!r} -->"
                )
    n = totals[0]
    print(
        f"| **all** | {n} | {totals[1]} ({totals[1] / n:.1%}) | {totals[2]} ({totals[2] / n:.1%}) | "
        f"{totals[3]} | {totals[4]} |"
    )


# math-verify's test functions whose rows run with its default options (no precision or set-relation override).
_PUBLIC_DEFAULT_TESTS = {
    "test_all": [
        "test_number_extraction",
        "test_simple_fraction_notation",
        "test_sets_handling",
        "test_latex_notation",
        "test_percent_notation",
        "test_latex_notation_math",
        "test_relations_math",
        "test_matrix_extraction",
        "test_math_extraction_edge_cases",
        "test_math_extraction_additional_cases",
    ],
    "test_numina_cases": ["test_numina_cases"],
    "test_open_thoughts": ["test_open_thoughts"],
    "test_yujianll": ["test_string_extraction"],
    "test_boxed": ["test_boxed"],
}


def public_suite(tests_dir: str, verbose: bool) -> None:
    """Our agreement with the expected verdicts of math-verify's own tests (see the module docstring)."""
    import importlib.util
    import types

    package = types.ModuleType("tests")  # their modules import each other as `tests.test_all`
    package.__path__ = [tests_dir]
    sys.modules["tests"] = package
    rows = []
    for module_name, functions in _PUBLIC_DEFAULT_TESTS.items():
        spec = importlib.util.spec_from_file_location(
            f"tests.{module_name}", os.path.join(tests_dir, f"{module_name}.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"tests.{module_name}"] = module
        spec.loader.exec_module(module)
        for function in functions:
            for mark in getattr(module, function).pytestmark:
                if mark.name == "parametrize":
                    rows += [(function, *getattr(p, "values", p)[:3]) for p in mark.args[1]]
    misses = [(f, g, p, bool(e)) for f, g, p, e in rows if check(p, g).correct != bool(e)]
    false_positives = sum(not e for *_, e in misses)
    print(
        f"public suite: {len(rows) - len(misses)}/{len(rows)} agree ({1 - len(misses) / len(rows):.1%}); "
        f"{false_positives} false positives, {len(misses) - false_positives} false negatives"
    )
    for function, gold, prediction, expected in misses if verbose else []:
        print(f"  {function}: expected {expected}, gold {gold[:60]!r}, prediction {prediction[-80:]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="responses in the mix")
    parser.add_argument("--max-workers", type=int, default=None, help="worker processes for check_batch")
    parser.add_argument(
        "--agreement",
        action="store_true",
        help="verdicts beside math-verify's on the forms and threats of issue #22, as a table",
    )
    parser.add_argument("--public-suite", metavar="DIR", help="math-verify's tests/ folder: our agreement with it")
    parser.add_argument("--verbose", action="store_true", help="with --public-suite: list the disagreements")
    args = parser.parse_args()
    if args.agreement or args.public_suite:
        if args.agreement:
            agreement()
        if args.public_suite:
            public_suite(args.public_suite, args.verbose)
        return

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
    print(
        f"check_batch (process pool):        {batch_rate:10.0f} checks/s  "
        f"(max_workers={args.max_workers or os.cpu_count()})"
    )
    print(f"ratio check_batch / sequential:    {batch_rate / sequential_rate:.2f}x")


if __name__ == "__main__":
    main()
