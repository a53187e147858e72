"""Unit tests of the math verifier's pieces: answer extraction, normalisation, the restricted parser, the
size guard and the numeric fast path. Run: python -m pytest tests/verifiers -q
"""

from fractions import Fraction

import pytest

from verifiers._math_guard import guard
from verifiers._math_latex import normalize, strip_variable
from verifiers._math_number import numbers_match, parse_number
from verifiers._math_parse import parse
from verifiers._math_tokens import MAX_DEPTH, ParseError, TooLarge, VerifierTimeout, tokenize
from verifiers.math import extract_answer


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so \\boxed{\\frac{1}{\\sqrt{2}}} is it", "\\frac{1}{\\sqrt{2}}"),  # nested braces
        ("first \\boxed{1} then \\boxed{2}", "1, 2"),  # several boxes: all of them, in order (a hedge or a list)
        ("\\boxed{3} so again \\boxed{3}", "3"),
        ("\\fbox{7}", "7"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("\\boxed 5.", "5"),
        ("answer \\boxed{3} and then \\boxed{4", "3"),  # an unbalanced (truncated) box falls back to the one before
        ("48 + 24 = 72 clips.\n#### 72", "72"),
        ("#### 1,000\n", "1,000"),
        ("So the answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("The final answer is **12**.", "12"),
        ("Final answer:\n3.5", "3.5"),
        ("The answer is 3.5. It is a decimal.", "3.5"),
        ("Answer: x = 5", "x = 5"),
        ("so there are 4 dogs in total.", "4"),  # last-number fallback
        ("a total of 1,250.", "1,250"),
        ("the ratio is 3/4.", "3/4"),
        ("<think>maybe \\boxed{4}</think>So it is \\boxed{5}.", "5"),  # a think block is never an answer
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_extract_answer_without_answer():
    assert extract_answer("") is None
    assert extract_answer("no digits here at all") is None
    assert extract_answer("there are 3 cats.", fallback_last_number=False) is None
    assert extract_answer("there are 3 cats") is None  # no full stop: it may have been cut off
    assert extract_answer("there are 3 cats and 4 dogs.") is None  # the last of a list: which one is the answer?
    assert extract_answer("first \\boxed{1} then \\boxed{2}", boxed_only=True) == "2"  # gold solutions: the last box
    assert extract_answer(None) is None  # type: ignore[arg-type]
    assert extract_answer("the answer is obvious", boxed_only=True) is None
    assert extract_answer("so \\boxed{5}. The answer is 5.", boxed_only=True) == "5"


def test_extract_answer_finds_a_box_at_the_start_of_a_long_response():
    # rfind scans the whole text, so a box far from the end is still found (only phrase scans use the tail).
    assert extract_answer("\\boxed{17}" + " filler" * 200_000) == "17"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("\\dfrac{3}{4}", "\\frac{3}{4}"),
        ("\\tfrac12", "\\frac{1}{2}"),
        ("\\left( 1, 2 \\right)", "( 1, 2 )"),
        ("2 \\cdot 3 \\times 4 \\div 5", "2 * 3 * 4 / 5"),
        ("1,000,000", "1000000"),
        ("1{,}000", "1000"),
        ("1\\,000", "1000"),
        ("30^\\circ", "30"),
        ("30^{\\circ}", "30"),
        ("50\\%", "50%"),
        ("50 percent", "50%"),
        ("$\\$12$", "12"),
        ("12\\text{ cm}^2", "12"),
        ("12 square feet", "12"),
        ("\\mathrm{5}", "5"),
        ("\\text{Tuesday}", "Tuesday"),
        ("x = 2 or x = -3", "x = 2, x = -3"),
        ("\\sqrt2", "\\sqrt{2}"),
        ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),  # `\\` survives
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_strip_variable_only_strips_a_single_variable():
    assert strip_variable("x = 5") == "5"
    assert strip_variable("x_1 = -2") == "-2"
    assert strip_variable("x + y = 5") == "x + y = 5"
    assert strip_variable("y = x = 3") == "y = x = 3"


@pytest.mark.parametrize(
    "text, value, exact, percent",
    [
        ("42", Fraction(42), True, False),
        ("-3.50", Fraction(-7, 2), False, False),
        (".5", Fraction(1, 2), False, False),
        ("6/8", Fraction(3, 4), True, False),
        ("\\frac{-3}{4}", Fraction(-3, 4), True, False),
        ("-\\frac{3}{4}", Fraction(-3, 4), True, False),
        ("2\\frac{1}{2}", Fraction(5, 2), True, False),
        ("2 1/2", Fraction(5, 2), True, False),
        ("25%", Fraction(25), True, True),
    ],
)
def test_parse_number(text, value, exact, percent):
    number = parse_number(text)
    assert (number.value, number.exact, number.percent) == (value, exact, percent)


@pytest.mark.parametrize("text", ["x", "1/0", "2 5/3", "1e", "1e99999", "\\frac{1}{0}", "1" * 500, "2\\frac{3}{2}"])
def test_parse_number_rejects_non_numbers(text):
    assert parse_number(text) is None  # these go to the parser (or are rejected there)


def test_numbers_match_tolerance_and_percent():
    def n(text):
        return parse_number(text)

    assert numbers_match(n("1/3"), n("0.3333333333"), 1e-6)
    assert not numbers_match(n("1/3"), n("0.33"), 1e-6)
    assert not numbers_match(n("10000"), n("10001"), 1e-3)  # exact vs exact: no tolerance at all
    assert numbers_match(n("0.25"), n("25%"), 1e-6) and numbers_match(n("25%"), n("25"), 1e-6)
    assert not numbers_match(n("0.25"), n("24%"), 1e-6)
    assert not numbers_match(n("1234567"), n("1234568.0"), 1e-6)  # within rel_tol, but not within 0.1
    assert numbers_match(n("2/3"), n("0.6666666"), 1e-6)  # truncated, not rounded: within one unit of 1e-7


@pytest.mark.parametrize(
    "text, tree",
    [
        ("2x", ("mul", ("num", "2"), ("sym", "x"))),
        ("-x^2", ("neg", ("pow", ("sym", "x"), ("num", "2")))),  # power binds tighter than unary minus
        ("2^3^2", ("pow", ("num", "2"), ("pow", ("num", "3"), ("num", "2")))),  # right-associative
        ("3\\frac{1}{2}", ("add", ("num", "3"), ("div", ("num", "1"), ("num", "2")))),  # mixed number
        ("3\\frac{\\pi}{2}", ("mul", ("num", "3"), ("div", ("const", "pi"), ("num", "2")))),  # not a mixed number
        ("[1, 2)", ("seq", "[)", ("num", "1"), ("num", "2"))),
        ("\\{1, 2\\}", ("set", ("num", "1"), ("num", "2"))),
        ("x = 5", ("rel", "=", ("sym", "x"), ("num", "5"))),
        ("1, 2", ("list", ("num", "1"), ("num", "2"))),
        ("a_{12}", ("sym", "a_12")),
        ("\\sqrt[3]{8}", ("root", ("num", "8"), ("num", "3"))),
        ("\\log_2 8", ("log", ("num", "8"), ("num", "2"))),
        (
            "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
            ("matrix", ("row", ("num", "1"), ("num", "2")), ("row", ("num", "3"), ("num", "4"))),
        ),
    ],
)
def test_parse_tree(text, tree):
    assert parse(text) == tree


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "lambda: 1",
        "x.__class__",
        "os.system",
        '"x"',
        "eval('1')",
        "exec(x.y)",
        "\\input{/etc/passwd}",
        "(1, 2",
        "1 +",
        "\\frac{1}",
        "\\begin{vmatrix} 1 \\end{vmatrix}",
        "\\begin{pmatrix} 1 & 2 \\\\ 3 \\end{pmatrix}",
        "(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5),
        "x" * 2000,
    ],
)
def test_parse_rejects(text):
    with pytest.raises((ParseError, TooLarge)):
        parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "9^{9^{9^{9}}}",
        "1000000!",
        "10^{10^{10}}",
        "x^{100000}",
        "(x+1)^{5000}",
        "0.5^{100000000}",
        "\\exp(\\exp(100))",
        "2^{-10^{7}}",
        "99999!",
    ],
)
def test_guard_refuses_huge_values(text):
    with pytest.raises(TooLarge):
        guard(parse(text))


@pytest.mark.parametrize("text", ["2^{100}", "100!", "(x+1)^{10}", "1^{10^{100}}", "x^y", "\\sqrt{2}^{64}"])
def test_guard_accepts_reasonable_values(text):
    guard(parse(text))


def test_parse_deadline_is_not_swallowed_by_except_exception():
    swallowed = False
    with pytest.raises(VerifierTimeout):
        try:
            parse("1 + 2 + 3", deadline=0.0)  # a deadline in the past
        except Exception:  # what careless code around a verifier would write
            swallowed = True
    assert not swallowed and not issubclass(VerifierTimeout, Exception)


def test_tokenize_whitelist():
    assert tokenize("2\\sqrt{x}") == [("num", "2"), ("cmd", "sqrt"), ("op", "{"), ("sym", "x"), ("op", "}")]
    assert tokenize("ab + sqrt(2)") == [
        ("sym", "a"),
        ("sym", "b"),
        ("op", "+"),
        ("cmd", "sqrt"),
        ("op", "("),
        ("num", "2"),
        ("op", ")"),
    ]
    for text in ("\\def\\x{1}", "x.y", "'a'", "a;b", "@", "#"):
        with pytest.raises(ParseError):
            tokenize(text)
