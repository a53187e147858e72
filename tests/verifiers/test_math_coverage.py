"""Answer forms the verifier must read: scientific notation, inequalities against intervals, thousands
separators, binomials, the decimal tolerance rule, and the spellings of MATH / GSM8K-style benchmarks.
`(gold, response, expected)` tables of realistic model output with near misses.
Run: python -m pytest tests/verifiers -q
"""

from fractions import Fraction

import pytest

from verifiers._math_latex import normalize
from verifiers._math_number import decimal_agrees, parse_number
from verifiers.math import check

COT = (
    "Let's solve this step by step.\nFirst, I write down what is given and what is asked.\n"
    "Then I set up the equation and simplify it carefully.\n"
)

SCIENTIFIC = [
    ("6.02\\times10^{23}", COT + "The number of molecules is \\boxed{6.02e23}.", True),
    ("6.02\\times10^{23}", COT + "The number of molecules is $\\boxed{6.02 \\cdot 10^{23}}$.", True),
    ("6.02\\times10^{23}", COT + "The number of molecules is 6.02×10²³.", True),
    ("6.02\\times10^{23}", COT + "The answer is 6.02 x 10^23.", True),
    ("6.02e23", COT + "\\boxed{6.02 \\times 10^{23}}", True),
    ("3\\times 10^{-5}", COT + "So the concentration is \\boxed{3E-5} mol/L.", True),
    ("0.0015", COT + "\\boxed{1.5 \\times 10^{-3}}", True),
    ("1000000", COT + "\\boxed{10^6}", True),
    ("3\\times10^8", COT + "The speed is \\boxed{300000000} m/s.", True),
    ("6.02\\times10^{23}", COT + "\\boxed{6.02e22}", False),
    ("6.02\\times10^{23}", COT + "\\boxed{6.022 \\times 10^{23}}", False),  # a different value, not a rounding
    ("3\\times 10^{-5}", COT + "\\boxed{3 \\times 10^{-4}}", False),
    ("0.0015", COT + "\\boxed{1.5e-2}", False),
    ("1000000", COT + "\\boxed{10^{5}}", False),
]

INEQUALITIES = [
    ("(-\\infty, 3)", COT + "Solving, we get $\\boxed{x < 3}$.", True),
    ("x < 3", COT + "So $x \\in \\boxed{(-\\infty, 3)}$.", True),
    ("x \\geq -2", COT + "\\boxed{[-2, \\infty)}", True),
    ("(3, \\infty)", COT + "\\boxed{3 < x}", True),
    ("(2, 5]", COT + "\\boxed{2 < x \\le 5}", True),
    ("[2, 5)", COT + "\\boxed{5 > x \\geq 2}", True),
    ("x \\in [2, 5)", COT + "\\boxed{2 \\le x < 5}", True),
    ("(-\\infty, 1) \\cup (3, \\infty)", COT + "\\boxed{x < 1 \\text{ or } x > 3}", True),
    ("(-\\infty, \\infty)", COT + "All real numbers work: $\\boxed{\\mathbb{R}}$.", True),
    ("(-\\infty, 3)", COT + "\\boxed{x \\le 3}", False),
    ("x \\geq -2", COT + "\\boxed{(-2, \\infty)}", False),
    ("(2, 5]", COT + "\\boxed{2 \\le x \\le 5}", False),
    ("[2, 5)", COT + "\\boxed{x \\geq 2}", False),
    ("(-\\infty, -2] \\cup [2, \\infty)", COT + "\\boxed{-2 \\le x \\le 2}", False),
    ("(1, 2)", COT + "\\boxed{1 < x < 2}", True),
    ("(1, 2)", COT + "The point is \\boxed{(1, 2)}.", True),  # still an ordered pair elsewhere
    ("(1, 2)", COT + "The point is \\boxed{(2, 1)}.", False),
]

THOUSANDS = [
    ("1000000", COT + "The prize is \\boxed{1 000 000} dollars.", True),
    ("1000000", COT + "The prize is $\\boxed{1\\,000\\,000}$ dollars.", True),
    ("1000", COT + "\\boxed{1\\ 000}", True),
    ("1000000", COT + "The answer is 1\u2009000\u2009000.", True),
    ("1000000", COT + "The answer is 1\u202f000\u202f000.", True),
    ("12345", COT + "\\boxed{12 345}", True),
    ("1000.5", COT + "\\boxed{1\\,000.5}", True),
    ("(1000, 2000)", COT + "\\boxed{(1\\,000, 2\\,000)}", True),
    ("1000", COT + "She earns 1,000 dollars in total.\n#### 1,000", True),
    ("12", COT + "\\boxed{1 2}", False),  # not groups of three: two numbers, never 12
    ("23", COT + "\\boxed{2\\,3}", False),
    ("2, 3", COT + "\\boxed{2 3}", False),
    ("1234", COT + "\\boxed{12\\,34}", False),
    ("100000", COT + "The answer is 1 000 000.", False),
]

BINOMIALS = [
    ("10", COT + "Choosing 2 of the 5 people: $\\boxed{\\binom{5}{2}}$ ways.", True),
    ("10", COT + "\\boxed{\\dbinom{5}{3}}", True),
    ("56", COT + "\\boxed{\\tbinom83}", True),
    ("\\binom{10}{3}", COT + "There are \\boxed{120} committees.", True),
    ("10", COT + "\\boxed{{5 \\choose 2}}", True),
    ("10", COT + "So there are C(5, 2) = 10 ways.\nThe answer is C(5,2).", True),
    ("\\binom{n}{2}", COT + "\\boxed{\\frac{n(n-1)}{2}}", True),
    ("20", COT + "\\boxed{2\\binom{5}{2}}", True),
    ("10", COT + "\\boxed{\\tbinom{5}{1}}", False),
    ("\\binom{10}{3}", COT + "There are \\boxed{720} committees.", False),
    ("\\binom{n}{2}", COT + "\\boxed{\\frac{n(n+1)}{2}}", False),
    ("1", COT + "\\boxed{\\binom{100000}{50000}}", False),  # refused before sympy: too large
]

TOLERANCE = [
    ("12.50", COT + "The total cost is \\$12.5.", True),
    ("12.50", COT + "\\boxed{\\$12.50}", True),
    ("\\frac{2}{3}", COT + "\\boxed{0.6666667}", True),  # rounded
    ("\\frac{2}{3}", COT + "\\boxed{0.6666666}", True),  # truncated
    ("\\frac{1}{3}", COT + "\\boxed{0.3333333333}", True),
    ("\\pi", COT + "\\boxed{3.14159265}", True),
    ("\\sqrt{2}", COT + "\\boxed{1.41421356}", True),
    ("12.50", COT + "\\boxed{12.49}", False),  # off by a cent
    ("12.50", COT + "\\boxed{12.51}", False),
    ("1", COT + "\\boxed{1.0000001}", False),
    ("1", COT + "\\boxed{0.9999999}", False),
    ("\\frac{1}{3}", COT + "\\boxed{0.333}", False),  # too few digits for 1e-6
    ("\\frac{2}{3}", COT + "\\boxed{0.6666668}", False),  # neither rounded nor truncated
    ("\\pi", COT + "\\boxed{3.14159266}", False),
    ("\\sqrt{2}", COT + "\\boxed{1.41421357}", False),
    ("0.125", COT + "\\boxed{0.13}", False),
]

BENCHMARK_FORMS = [
    ("\\frac{3}{4}", COT + "\\boxed{\\dfrac34}", True),
    ("\\frac{9}{2}", COT + "\\boxed{4\\frac{1}{2}}", True),
    ("\\frac{7}{4}", COT + "\\boxed{1 \\tfrac{3}{4}}", True),
    ("\\frac{7}{4}", COT + "\\boxed{\\frac{3}{4}}", False),
    ("50\\%", COT + "\\boxed{0.5}", True),
    ("0.1", COT + "\\boxed{10\\%}", True),
    ("45^\\circ", COT + "\\boxed{45}", True),
    ("90^\\circ", COT + "\\boxed{90°}", True),
    ("15", COT + "The temperature is \\boxed{15^\\circ\\text{C}}.", True),
    ("90^\\circ", COT + "\\boxed{\\frac{\\pi}{2}}", False),
    ("10\\text{ cm}", COT + "\\boxed{10}", True),
    ("10", COT + "\\boxed{10\\,\\text{cm}}", True),
    ("18", COT + "Janet makes \\$18 every day.\n#### \\$18", True),
    ("1000", COT + "The answer is \\$1,000.00.", True),
    ("\\$1.50", COT + "\\boxed{\\$1.05}", False),
    ("3\\pi", COT + "\\boxed{9.42477796}", True),
    ("3\\pi", COT + "\\boxed{3}", False),
    ("2\\sqrt{3}", COT + "\\boxed{2 \\sqrt 3}", True),
    ("5\\sqrt{5}", COT + "\\boxed{\\sqrt{125}}", True),
    ("-\\frac{\\sqrt{2}}{2}", COT + "\\boxed{\\frac{\\sqrt{2}}{2}}", False),
    ("\\frac{\\sqrt{3}}{2}", COT + "\\boxed{0.866}", False),
    ("(-\\infty, -1) \\cup (1, \\infty)", COT + "\\boxed{(-\\infty,-1)\\cup(1,\\infty)}", True),
    ("\\begin{pmatrix} 2 \\\\ -1 \\end{pmatrix}", COT + "The vector is \\boxed{(2, -1)}.", True),
    ("\\begin{pmatrix} 2 \\\\ -1 \\end{pmatrix}", COT + "The vector is \\boxed{(-1, 2)}.", False),
    ("(1, 2)", COT + "\\boxed{\\{1, 2\\}}", False),  # an ordered pair is not a set
    ("(2, -1)", COT + "\\boxed{(x, y) = (2, -1)}", True),
    ("(2, -1)", COT + "The solution is $(x, y) = (2, -1)$.", True),
    ("(3, 4)", COT + "\\boxed{x=4, y=3}", False),
    ("y = -\\frac{1}{2}x + 3", COT + "\\boxed{y = -0.5x + 3}", True),
    ("x = 3", COT + "\\boxed{3}", True),
    ("3", COT + "\\boxed{x=4}", False),
    ("\\text{yes}", COT + "\\boxed{\\text{Yes}}", True),
    ("\\text{Yes}", COT + "The answer is yes.", True),
    ("\\text{No}", COT + "\\boxed{\\text{yes}}", False),
    ("\\text{odd}", COT + "\\boxed{\\text{Odd}}", True),
    ("\\text{even}", COT + "\\boxed{\\text{odd}}", False),
    ("\\text{(A)}", COT + "\\boxed{A}", True),
    ("(B)", COT + "\\boxed{\\textbf{(B)}}", True),
    ("\\textbf{(C)}", COT + "\\boxed{\\textbf{(C)}\\ 12}", True),
    ("C", COT + "The answer is (C) 12.", True),
    ("C", COT + "The answer is (D) 14.", False),
    ("\\text{(A)}", COT + "\\boxed{B}", False),
    ("-5", COT + "\\boxed{−5}", True),
    ("-5", COT + "The answer is −5.", True),
    ("-5", COT + "\\boxed{5}", False),
    ("24", COT + "The answer is \\(24\\).", True),
    ("24", COT + "The total is \\(\\boxed{24}\\).", True),
    ("24", COT + "The answer is \\(25\\).", False),
    ("\\frac{1}{6}", COT + "\\boxed{\\frac{1}{6}\\approx 0.167}", True),
    ("\\frac{1}{6}", COT + "\\boxed{x \\approx 0.167}", False),
    ("x^2", COT + "\\boxed{x²}", True),
    ("x^3", COT + "\\boxed{x²}", False),
    ("7", COT + "\\fbox{7}", True),
    ("5", COT + "**Final Answer:** $5$", True),
    ("5", COT + "Final Answer: The final answer is $5$. I hope it is correct.", True),
    ("5", COT + "Final Answer: The final answer is $6$. I hope it is correct.", False),
    ("\\frac{1}{2}", COT + "\\boxed{\\frac{1}{{2}}}", True),
    ("6", COT + "\\boxed{\\!6}", True),
    ("8", COT + "## Step 3: Compute\n8\n\nThe final answer is: $\\boxed{8}$", True),
    ("5", COT + "**Answer: 5**", True),
    ("B", COT + "Answer: (B)", True),
    ("3", COT + "\\boxed{k = 3}", True),
    ("-1", COT + "\\boxed{e^{i\\pi}}", True),
    ("\\frac{5}{2}", COT + "\\boxed{2½}", True),
    ("\\frac{5}{2}", COT + "\\boxed{2¼}", False),
    ("\\frac{1}{2}", COT + "So the answer is $\\boxed{\\frac{1}{2}}$.\n\n</s>", True),
    ("5, 7", COT + "\\boxed{5 \\text{ and } 7}", True),
]

ALL_ROWS = SCIENTIFIC + INEQUALITIES + THOUSANDS + BINOMIALS + TOLERANCE + BENCHMARK_FORMS


@pytest.mark.parametrize("gold, response, expected", ALL_ROWS, ids=[f"{g[:15]}|{r[-35:]}" for g, r, _ in ALL_ROWS])
def test_check(gold, response, expected):
    outcome = check(response, gold)
    assert outcome.correct is expected, (outcome.reason, outcome.details)
    assert outcome.reason.startswith("correct") is expected


def test_each_feature_has_both_verdicts():
    for rows in (SCIENTIFIC, INEQUALITIES, THOUSANDS, BINOMIALS, TOLERANCE, BENCHMARK_FORMS):
        assert {expected for _, _, expected in rows} == {True, False}


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1 000 000", "1000000"),
        ("-12 345.5", "-12345.5"),
        ("1\\,000\\,000", "1000000"),
        ("1\u2009000", "1000"),
        ("(1\\,000, 2)", "(1000, 2)"),
        ("2\\,3", "2 3"),  # not a thousands group: kept apart
        ("3.141\\,592\\,65", "3.14159265"),  # SI grouping of decimals
        ("0.12\\,3", "0.12 3"),
        ("1 2", "1 2"),
        ("12 34", "12 34"),
        ("1 000 00", "1 000 00"),
        ("6.02×10²³", "6.02*10^{23}"),
        ("\\binom{5}{2}", "10"),
        ("{5 \\choose 2}", "10"),
        ("C(5, 2)", "10"),
        ("\\binom{n}{2}", "\\binom{n}{2}"),
        ("either 3 or 4", "3, 4"),
        ("\\(24\\)", "24"),
        ("15^\\circ\\text{C}", "15"),
        ("\\mathbb{R}", "(-\\infty, \\infty)"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "text, value, places",
    [
        ("6.02e23", Fraction(602) * 10**21, -21),
        ("6.02*10^{23}", Fraction(602) * 10**21, -21),
        ("-3E-5", Fraction(-3, 100000), 5),
        ("10^{-3}", Fraction(1, 1000), 3),
        ("2.5 x 10^3", Fraction(2500), -2),
    ],
)
def test_parse_scientific(text, value, places):
    number = parse_number(text)
    assert (number.value, number.places) == (value, places)


def test_decimal_agrees_means_rounded_or_truncated():
    # 2/3 to 7 places: 0.6666667 rounded, 0.6666666 truncated; nothing else.
    assert decimal_agrees(Fraction(2, 3), Fraction("0.6666667"), Fraction(1, 10**7))
    assert decimal_agrees(Fraction(2, 3), Fraction("0.6666666"), Fraction(1, 10**7))
    assert not decimal_agrees(Fraction(2, 3), Fraction("0.6666668"), Fraction(1, 10**7))
    # 1 to 7 places is 1.0000000 either way: one unit off is wrong.
    assert not decimal_agrees(Fraction(1), Fraction("1.0000001"), Fraction(1, 10**7))
    assert not decimal_agrees(Fraction(1), Fraction("0.9999999"), Fraction(1, 10**7))
    assert decimal_agrees(Fraction(-2, 3), Fraction("-0.6666666"), Fraction(1, 10**7))
