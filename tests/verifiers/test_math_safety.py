"""The math verifier under attack: adversarial answers, code payloads, time limits, threads and batches.

Time bounds here are generous safety bounds (the machine is shared), not speed tests.
Run: python -m pytest tests/verifiers -q
"""

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from verifiers.math import VerifierTimeout, check, check_batch

SAFETY_BOUND_S = 10.0
SLOW_SYMPY = "\\boxed{(a+b+c+d)^{999}}"  # passes the size guard, but expanding it takes sympy minutes

ADVERSARIAL = [
    "\\boxed{9^{9^{9^{9}}}}",
    "\\boxed{1000000!}",
    "The answer is 1000000!",
    "\\boxed{10^{10^{10}}}",
    "\\boxed{2^{2^{2^{2^{2^{2}}}}}}",
    "\\boxed{x^{100000}}",
    "\\boxed{0.5^{100000000}}",
    "\\boxed{\\exp(\\exp(100))}",
    "\\boxed{" + "9" * 300 + "^{" + "9" * 300 + "}}",
    "1" * 10_000_000,  # 10 MB of digits, found by the last-number fallback
    "\\boxed{" + "1" * 10_000_000 + "}",
    "#### " + "7" * 10_000_000,
    "\\boxed{" * 200_000,
    "The answer is " * 200_000,
    "1," * 3_000_000,
    "Answer: " + "(" * 100_000 + "1" + ")" * 100_000,
    "\\boxed{" + "(" * 400 + "1" + ")" * 400 + "}",
    "\\boxed{" + "-" * 900 + "1}",
    "\\boxed{" + "x^" * 400 + "2}",
    "\\boxed{\\frac{\\frac{\\frac{\\frac{1}{0}}{0}}{0}}{0}}",
    "$" * 1_000_000 + "a" * 1_000_000,
    "\\boxed{\\begin{pmatrix}" + "1 & " * 300 + "1 \\end{pmatrix}}",
    SLOW_SYMPY,
    "\\boxed{42}" * 1_000_000,  # a spray of boxes (even of the right answer) is no answer
    "</think>" * 500_000 + "The answer is " * 100_000,
    "<think>" + "\\boxed{42}" * 100_000,  # an unclosed think block
    "\\boxed{" + "1\\," * 400 + "}",
    "The answer is 1\u2009" + "000\u2009" * 300_000 + ".",
    "So " + "1 000 " * 1_000_000 + ".",  # the fallback's thousands groups
    "\\boxed{" + "\\binom{" * 300 + "}",
    "\\boxed{" + "1 < x < " * 100 + "2}",
    "<|im_end|>" * 1_000_000 + "\\boxed{42}",  # stop markers: a few before any text are a leaked header, not these
    "So " + "x <= 42 or " * 200_000 + "$x <= 42$.",  # a long hedged relation for the fallback
    "\\boxed{1}" + " The final answer is " * 100_000,
    "So $" + "x = " * 100_000 + "42$.",  # the fallback's top-level `=` split
]


@pytest.mark.parametrize("response", ADVERSARIAL, ids=lambda r: repr(r[:30]))
def test_adversarial_answers_are_wrong_and_fast(response):
    start = time.monotonic()
    outcome = check(response, "42", timeout=1.0)
    assert outcome.correct is False and outcome.score == 0.0
    assert time.monotonic() - start < SAFETY_BOUND_S


def test_slow_sympy_work_is_cut_at_the_time_limit_and_the_worker_recovers():
    outcome = check(SLOW_SYMPY, "0", timeout=0.5)
    assert outcome.correct is False and outcome.reason.startswith("timeout"), outcome.reason
    # The killed child is replaced: the next comparison that needs sympy works again.
    assert check("\\boxed{(x+1)^2}", "x^2+2x+1").correct


def test_timeout_is_a_base_exception():
    assert issubclass(VerifierTimeout, BaseException) and not issubclass(VerifierTimeout, Exception)


PAYLOADS = [
    "__import__('os').system('touch {marker}')",
    '__import__("os").system("touch {marker}")',
    "open('{marker}', 'w').write('pwned')",
    "exec(\"open('{marker}','w')\")",
    "eval(compile('open(\"{marker}\",\"w\")','x','exec'))",
    "(lambda: open('{marker}', 'w'))()",
    "().__class__.__bases__[0].__subclasses__()",
    "x.__globals__['os'].system('touch {marker}')",
    "Symbol('x').__class__.__init__.__globals__",
    "\\text{__import__('os').system('touch {marker}')}",
    'sympify(\'open("{marker}","w")\')',
    "\\input{{marker}}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_model_text_is_never_evaluated(payload, tmp_path):
    marker = tmp_path / "pwned"
    text = payload.replace("{marker}", str(marker))
    outcomes = [
        check(f"The answer is \\boxed{{{text}}}", "42"),
        check(text, "42", extract=False),
        check("\\boxed{1}", text),
        check_batch([text, f"\\boxed{{{text}}}"], ["1", "x"])[1],
    ]
    assert not marker.exists()
    assert all(outcome.correct is False for outcome in outcomes)


def test_numeric_answers_never_import_sympy():
    # The fast path decides plain numbers in-process; sympy (and any eval it might do) is not even loaded.
    code = (
        "import sys; from verifiers.math import check; "
        "assert check('so \\\\boxed{\\\\frac{3}{4}}', '0.75').correct; "
        "assert not check('#### 71', '72').correct; "
        "assert 'sympy' not in sys.modules, 'sympy was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_check_never_raises_on_odd_inputs():
    for response, gold in [
        (None, "1"),
        (b"\\boxed{1}", "1"),
        ("\\boxed{1}", 1),
        ("\\boxed{}", "1"),
        ("\\boxed{1}", ""),
        ("\\boxed{1}", "\\frac{1}{0}"),
        ("\x00\\boxed{\x00}", "0"),
    ]:
        outcome = check(response, gold)  # type: ignore[arg-type]
        assert outcome.correct in (True, False)
    assert check("\\boxed{1}", 1).correct  # type: ignore[arg-type]  # an int gold from a data file


MIXED = [
    ("\\boxed{42}", "42", True),
    ("\\boxed{(x+1)^2}", "x^2+2x+1", True),
    ("\\boxed{(2, 1)}", "(1, 2)", False),
    ("\\boxed{1000000!}", "1", False),
    ("#### 72", "72", True),
    ("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{\\sqrt{2}}{2}", True),
    ("no answer here", "3", False),
    ("\\boxed{\\{3, 1, 2\\}}", "\\{1, 2, 3\\}", True),
]


def test_check_from_a_worker_thread():
    results = {}
    thread = threading.Thread(
        target=lambda: results.update(
            fast=check("\\boxed{42}", "42"),
            sympy=check("\\boxed{(x+1)^2}", "x^2+2x+1"),
            slow=check(SLOW_SYMPY, "0", timeout=0.5),
        )
    )
    thread.start()
    thread.join(SAFETY_BOUND_S * 3)
    assert not thread.is_alive()
    assert results["fast"].correct and results["sympy"].correct
    assert results["slow"].reason.startswith("timeout")


def test_check_from_several_threads_at_once():
    with ThreadPoolExecutor(4) as executor:
        outcomes = list(executor.map(lambda row: check(row[0], row[1]), MIXED * 3))
    assert [o.correct for o in outcomes] == [expected for _, _, expected in MIXED * 3]


def test_check_batch_matches_check_in_order():
    responses, golds, expected = zip(*(MIXED * 4))
    for max_workers in (1, 2):
        outcomes = check_batch(list(responses), list(golds), max_workers=max_workers)
        assert [o.correct for o in outcomes] == list(expected)
    assert check_batch([], []) == []
    with pytest.raises(ValueError, match="one gold per response"):
        check_batch(["\\boxed{1}"], [])
