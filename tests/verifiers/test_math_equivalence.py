"""`(gold, response, expected)` tables of realistic model responses for `verifiers.math.check`.

Each category has near misses that must be judged wrong. Run: python -m pytest tests/verifiers -q
"""

import pytest

from verifiers.math import check

COT = "Let me work through this step by step.\nFirst I set up the problem, then I simplify.\n"

INTEGERS = [
    ("42", COT + "So the total is $\\boxed{42}$.", True),
    ("42", COT + "Therefore the answer is \\boxed{43}.", False),
    ("72", "Natalia sold 48/2 = 24 clips in May.\nAltogether she sold 48 + 24 = 72 clips.\n#### 72", True),
    ("72", "Natalia sold 48 + 24 = 72 clips.\n#### 71", False),
    ("-7", COT + "The answer is -7.", True),
    ("-7", COT + "The answer is 7.", False),
    ("7", COT + "The answer is -7.", False),
    ("1000", COT + "She earns 1,000 dollars in total.\n#### 1,000", True),
    ("1000000", COT + "The final answer is 1,000,000.", True),
    ("1000000", COT + "The final answer is 100,000.", False),
    ("18", COT + "Janet makes 9 * 2 = $18 every day.\n#### 18", True),
    ("18", "Answer: 18", True),
    ("18", "**Answer:** 18", True),
    ("18", COT + "Final answer: **18**", True),
    ("5", COT + "So 2 + 3 = 5.", True),  # last-number fallback
    ("5", COT + "So 2 + 3 = 6.", False),
    ("12", COT + "The answer is $12.", True),
    ("12", COT + "The answer is \\$12.00.", True),
    ("0", COT + "\\boxed{0}", True),
    ("0", COT + "\\boxed{-0}", True),
    ("3", COT + "\\boxed{3.0}", True),
    ("3", COT + "\\boxed{3.01}", False),
    ("10", COT + "The answer is 10 apples.", True),
    ("10", COT + "The answer is 11 apples.", False),
    ("6", COT + "\\boxed{\\text{6}}", True),
    ("6", COT + "\\boxed{6.}", True),
    ("100", COT + "We get $\\boxed{10^2}$.", True),
    ("120", COT + "So there are $\\boxed{5!}$ orderings.", True),
    ("120", COT + "So there are $\\boxed{4!}$ orderings.", False),
]

FRACTIONS_DECIMALS = [
    ("\\frac{3}{4}", COT + "The probability is $\\boxed{\\frac{3}{4}}$.", True),
    ("\\frac{3}{4}", COT + "The probability is $\\boxed{\\dfrac{3}{4}}$.", True),
    ("\\frac{3}{4}", COT + "The probability is $\\boxed{\\tfrac34}$.", True),
    ("\\frac{3}{4}", COT + "The probability is $\\boxed{0.75}$.", True),
    ("\\frac{3}{4}", COT + "The probability is $\\boxed{6/8}$.", True),
    ("\\frac{3}{4}", COT + "The probability is $\\boxed{\\frac{4}{3}}$.", False),
    ("\\frac{3}{4}", COT + "The probability is $\\boxed{0.7}$.", False),
    ("0.5", COT + "\\boxed{\\frac{1}{2}}", True),
    ("0.5", COT + "\\boxed{0.51}", False),
    ("0.5", COT + "\\boxed{.5}", True),
    ("\\frac{1}{3}", COT + "\\boxed{0.33}", False),
    ("\\frac{1}{3}", COT + "\\boxed{0.3333333333}", True),
    ("\\frac{1}{3}", COT + "\\boxed{1/3}", True),
    ("\\frac{1}{3}", COT + "\\boxed{2/6}", True),
    ("-\\frac{1}{2}", COT + "\\boxed{-\\frac{1}{2}}", True),
    ("-\\frac{1}{2}", COT + "\\boxed{\\frac{-1}{2}}", True),
    ("-\\frac{1}{2}", COT + "\\boxed{\\frac{1}{2}}", False),
    ("-\\frac{1}{2}", COT + "\\boxed{-0.5}", True),
    ("\\frac{7}{2}", COT + "\\boxed{3\\frac{1}{2}}", True),  # mixed number
    ("\\frac{7}{2}", COT + "The answer is 3 1/2.", True),
    ("\\frac{7}{2}", COT + "\\boxed{3\\frac{1}{3}}", False),
    ("-\\frac{7}{2}", COT + "\\boxed{-3\\frac{1}{2}}", True),
    ("3.14", COT + "\\boxed{3.14}", True),
    ("3.14", COT + "\\boxed{3.15}", False),
    ("2.5", COT + "\\boxed{\\frac{5}{2}}", True),
    ("1.25", COT + "\\boxed{1\\frac{1}{4}}", True),
    ("0.125", COT + "\\boxed{\\frac{1}{8}}", True),
    ("0.125", COT + "\\boxed{\\frac{1}{9}}", False),
    ("\\frac{10}{3}", COT + "\\boxed{3.3333333}", True),
    ("\\frac{10}{3}", COT + "\\boxed{3.33}", False),
    ("1.5", COT + "\\boxed{1.500}", True),
    ("\\frac{2}{3}", COT + "\\boxed{\\frac{2}{3}+0}", True),
    ("1000000007", COT + "\\boxed{1000000008}", False),
    ("1234567", COT + "\\boxed{1234568.0}", False),  # within 1e-6 relative, but a different integer
    ("1234567", COT + "\\boxed{1234567.0}", True),
    ("2^{20}", COT + "\\boxed{1048577.0}", False),
    ("2^{20}", COT + "\\boxed{1048576.00}", True),
    ("- \\frac{1}{21}", COT + "\\boxed{-\\frac{1}{21}}", True),  # sympy.latex spelling
    ("- \\frac{1}{21}", COT + "\\boxed{\\frac{1}{21}}", False),
    ("1500", COT + "\\boxed{1.5 \\times 10^{3}}", True),
    ("1500", COT + "\\boxed{1.5 \\times 10^{4}}", False),
]

PERCENT_UNITS = [
    ("25\\%", COT + "So the discount is \\boxed{25\\%}.", True),
    ("25\\%", COT + "So the discount is \\boxed{25}.", True),
    ("25\\%", COT + "So the discount is \\boxed{0.25}.", True),
    ("25\\%", COT + "So the discount is \\boxed{26\\%}.", False),
    ("0.25", COT + "The answer is 25%.", True),
    ("\\frac{1}{4}", COT + "The answer is 25 percent.", True),
    ("\\frac{1}{4}", COT + "The answer is 20%.", False),
    ("30", COT + "Each angle is $\\boxed{30^\\circ}$.", True),
    ("30", COT + "Each angle is $\\boxed{30^{\\circ}}$.", True),
    ("30", COT + "Each angle is 30 degrees.\nThe answer is 30 degrees.", True),
    ("30", COT + "Each angle is $\\boxed{60^\\circ}$.", False),
    ("12", COT + "The area is $\\boxed{12\\text{ cm}^2}$.", True),
    ("12", COT + "The area is $\\boxed{12 \\mathrm{cm}^2}$.", True),
    ("12", COT + "The answer is 12 square feet.", True),
    ("12", COT + "The answer is 13 square feet.", False),
    ("5", COT + "The speed is \\boxed{5 \\text{ km/h}}.", True),
    ("50", COT + "He pays $\\boxed{\\$50}$.", True),
    ("50", COT + "He pays $\\boxed{\\$5.00}$.", False),
    ("2.5", COT + "\\boxed{2.5\\text{ hours}}", True),
]

LATEX_FORMS = [
    ("\\sqrt{2}", COT + "\\boxed{\\sqrt{2}}", True),
    ("\\sqrt{2}", COT + "\\boxed{\\sqrt2}", True),
    ("\\sqrt{2}", COT + "\\boxed{2^{1/2}}", True),
    ("\\sqrt{2}", COT + "\\boxed{\\sqrt{3}}", False),
    ("\\frac{\\sqrt{2}}{2}", COT + "\\boxed{\\frac{1}{\\sqrt{2}}}", True),
    ("\\frac{\\sqrt{2}}{2}", COT + "\\boxed{\\frac{\\sqrt{2}}{3}}", False),
    ("2\\sqrt{2}", COT + "\\boxed{\\sqrt{8}}", True),
    ("2\\sqrt{2}", COT + "\\boxed{\\sqrt{6}}", False),
    ("3", COT + "\\boxed{\\sqrt[3]{27}}", True),
    ("2", COT + "\\boxed{\\sqrt[4]{16}}", True),
    ("2", COT + "\\boxed{\\sqrt[3]{16}}", False),
    ("6", COT + "\\boxed{2 \\cdot 3}", True),
    ("42", COT + "\\boxed{2 21}", False),  # two numbers side by side are not a product
    ("6", COT + "\\boxed{2 \\times 3}", True),
    ("2", COT + "\\boxed{6 \\div 3}", True),
    ("8", COT + "\\boxed{2^{3}}", True),
    ("8", COT + "\\boxed{2^{4}}", False),
    ("2\\pi", COT + "\\boxed{2\\pi}", True),
    ("2\\pi", COT + "\\boxed{\\pi \\cdot 2}", True),
    ("2\\pi", COT + "\\boxed{6.283185307}", True),
    ("2\\pi", COT + "\\boxed{6.28}", False),
    ("2\\pi", COT + "\\boxed{\\pi}", False),
    ("\\frac{\\pi}{3}", COT + "\\boxed{\\dfrac{\\pi}{3}}", True),
    ("\\frac{\\pi}{3}", COT + "\\boxed{60}", False),
    ("\\infty", COT + "\\boxed{\\infty}", True),
    ("\\infty", COT + "\\boxed{-\\infty}", False),
    ("\\frac{1}{2}", COT + "\\boxed{\\left(\\frac{1}{2}\\right)}", True),
    ("4", COT + "\\boxed{\\!4\\,}", True),
    ("5", COT + "\\boxed{\\mathrm{5}}", True),
    ("\\frac{9}{4}", COT + "\\boxed{\\left(\\frac{3}{2}\\right)^2}", True),
    ("1", COT + "\\boxed{\\sin^2 x + \\cos^2 x}", True),
    ("2", COT + "\\boxed{\\log_2 4}", True),
    ("3", COT + "\\boxed{\\log_{2} 8}", True),
    ("3", COT + "\\boxed{\\log_{2} 16}", False),
    ("5", COT + "\\boxed{|-5|}", True),
    ("3+4i", COT + "\\boxed{4i + 3}", True),
    ("3+4i", COT + "\\boxed{3-4i}", False),
    ("\\text{(C)}", COT + "The correct option is \\boxed{\\text{(C)}}.", True),
    ("\\text{(C)}", COT + "The correct option is \\boxed{\\text{(D)}}.", False),
    ("\\text{Tuesday}", COT + "So the party is on \\boxed{\\text{Tuesday}}.", True),
    ("\\text{Tuesday}", COT + "So the party is on \\boxed{\\text{Monday}}.", False),
    ("\\text{Tuesday}", COT + "So the party is on \\boxed{\\text{Tuesdya}}.", False),  # not x*y*z commuting
]

SYMBOLIC = [
    ("x^2+2x+1", COT + "Expanding, \\boxed{(x+1)^2}.", True),
    ("x^2+2x+1", COT + "Expanding, \\boxed{(x-1)^2}.", False),
    ("x^2+2x+1", COT + "Expanding, \\boxed{x^2+2x}.", False),
    ("x^{2} + 3 x - 10", COT + "\\boxed{(x+5)(x-2)}", True),
    ("x^{2} + 3 x - 10", COT + "\\boxed{x^2+3x-10}", True),
    ("x^{2} + 3 x - 10", COT + "\\boxed{(x-5)(x+2)}", False),
    ("\\frac{x+1}{x-1}", COT + "\\boxed{\\frac{x^2+2x+1}{x^2-1}}", True),
    ("\\frac{x+1}{x-1}", COT + "\\boxed{\\frac{x-1}{x+1}}", False),
    ("2x", COT + "The derivative is \\boxed{2x}.", True),
    ("2x", COT + "The derivative is \\boxed{x \\cdot 2}.", True),
    ("2x", COT + "The derivative is \\boxed{x^2}.", False),
    ("a^2 - b^2", COT + "\\boxed{(a-b)(a+b)}", True),
    ("a^2 - b^2", COT + "\\boxed{(a-b)^2}", False),
    ("\\frac{1}{2}x^2 + C", COT + "\\boxed{\\frac{x^2}{2} + C}", True),
    ("e^{2x}", COT + "\\boxed{(e^x)^2}", True),
    ("e^{2x}", COT + "\\boxed{e^{x}}", False),
    ("\\sin(2x)", COT + "\\boxed{2\\sin(x)\\cos(x)}", True),
    ("\\sin(2x)", COT + "\\boxed{2\\sin(x)}", False),
    ("\\ln(6)", COT + "\\boxed{\\ln 2 + \\ln 3}", True),
    ("\\ln(6)", COT + "\\boxed{\\ln 5}", False),
    ("3x+2y", COT + "\\boxed{2y+3x}", True),
    ("-x", COT + "\\boxed{x}", False),
    ("|x|", COT + "\\boxed{x}", False),  # equal for x > 0 only
    ("\\sqrt{x}", COT + "\\boxed{x^{1/2}}", True),
    ("x^{2} - 10 x + 21", COT + "\\boxed{(x-3)(x-7)}", True),  # sympy.latex spelling of the built-in tasks' golds
    ("x^{2} - 10 x + 21", COT + "\\boxed{(x-3)(x+7)}", False),
]

EQUATIONS = [
    ("5", COT + "Solving, we find $\\boxed{x = 5}$.", True),
    ("5", COT + "Solving, we find $\\boxed{x = -5}$.", False),
    ("x = 5", COT + "Solving, \\boxed{5}", True),
    ("-\\frac{3}{2}", COT + "Thus $x = -\\frac{3}{2}$.\nThe answer is $x = -\\frac{3}{2}$.", True),
    ("y = 2x + 1", COT + "\\boxed{y = 1 + 2x}", True),
    ("y = 2x + 1", COT + "\\boxed{2x - y + 1 = 0}", True),
    ("y = 2x + 1", COT + "\\boxed{y = 2x - 1}", False),
    ("y = 2x + 1", COT + "\\boxed{y = x + 1}", False),
    ("x^2 + y^2 = 25", COT + "\\boxed{y^2 + x^2 = 25}", True),
    ("x^2 + y^2 = 25", COT + "\\boxed{2x^2 + 2y^2 = 50}", True),
    ("x^2 + y^2 = 25", COT + "\\boxed{x^2 + y^2 = 5}", False),
    ("x > 3", COT + "\\boxed{3 < x}", True),
    ("x > 3", COT + "\\boxed{x < 3}", False),
    ("x \\geq 2", COT + "\\boxed{x \\ge 2}", True),
    ("2x", COT + "\\boxed{f(x) = 2x}", True),
    ("2x", COT + "\\boxed{f(x) = 3x}", False),
]

TUPLES_SETS_INTERVALS = [
    ("(1, 2)", COT + "The point is $\\boxed{(1, 2)}$.", True),
    ("(1, 2)", COT + "The point is $\\boxed{(2, 1)}$.", False),
    ("(1, 2)", COT + "The point is $\\boxed{(1, 2, 3)}$.", False),
    ("(1, 2)", COT + "The point is $\\boxed{\\left(1, 2\\right)}$.", True),
    ("(1, 2)", COT + "The point is $\\boxed{(1.0, 2)}$.", True),
    ("(\\frac{1}{2}, -3)", COT + "\\boxed{(0.5, -3)}", True),
    ("(\\frac{1}{2}, -3)", COT + "\\boxed{(0.5, 3)}", False),
    ("(3, -4, 5)", COT + "\\boxed{(3,-4,5)}", True),
    ("(3, -4, 5)", COT + "\\boxed{(3,5,-4)}", False),
    ("\\{1, 2, 3\\}", COT + "\\boxed{\\{3, 1, 2\\}}", True),
    ("\\{1, 2, 3\\}", COT + "\\boxed{\\{1, 2\\}}", False),
    ("\\{1, 2, 3\\}", COT + "\\boxed{\\{1, 2, 4\\}}", False),
    ("\\{-1, 1\\}", COT + "\\boxed{\\left\\{1, -1\\right\\}}", True),
    ("\\emptyset", COT + "There are no solutions: \\boxed{\\varnothing}.", True),
    ("\\emptyset", COT + "\\boxed{\\{0\\}}", False),
    ("2, -3", COT + "The roots are \\boxed{-3, 2}.", True),
    ("2, -3", COT + "The roots are \\boxed{2, 3}.", False),
    ("2, -3", COT + "The roots are \\boxed{2}.", False),
    ("2, -3", COT + "So $x = 2$ or $x = -3$.\nThe answer is x = 2 or x = -3.", True),
    ("2, -3", COT + "\\boxed{x = -3, x = 2}", True),
    ("1, 2, 3", COT + "\\boxed{1, 2, 3, 4}", False),
    ("2 \\pm \\sqrt{3}", COT + "\\boxed{2+\\sqrt{3}, 2-\\sqrt{3}}", True),
    ("2 \\pm \\sqrt{3}", COT + "\\boxed{2 \\pm \\sqrt{3}}", True),
    ("2 \\pm \\sqrt{3}", COT + "\\boxed{2+\\sqrt{3}}", False),
    ("[1, 2)", COT + "The solution set is \\boxed{[1, 2)}.", True),
    ("[1, 2)", COT + "The solution set is \\boxed{[1, 2]}.", False),
    ("[1, 2)", COT + "The solution set is \\boxed{(1, 2)}.", False),
    ("(-\\infty, 3]", COT + "\\boxed{(-\\infty, 3]}", True),
    ("(-\\infty, 3]", COT + "\\boxed{x \\in (-\\infty, 3]}", True),
    ("(-\\infty, 3]", COT + "\\boxed{(-\\infty, 3)}", False),
    ("(-\\infty, 0) \\cup (1, \\infty)", COT + "\\boxed{(1, \\infty) \\cup (-\\infty, 0)}", True),
    ("(-\\infty, 0) \\cup (1, \\infty)", COT + "\\boxed{(-\\infty, 0) \\cup [1, \\infty)}", False),
    ("(-\\infty, 0) \\cup (1, \\infty)", COT + "\\boxed{(-\\infty, 0)}", False),
    ("[0, \\frac{1}{2}]", COT + "\\boxed{\\left[0, 0.5\\right]}", True),
]

MATRICES = [
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        COT + "\\boxed{\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}}",
        True,
    ),
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        COT + "\\boxed{\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}}",
        True,
    ),
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        COT + "\\boxed{\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}}",
        False,
    ),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", COT + "\\boxed{\\begin{pmatrix} 1 & 2 \\end{pmatrix}}", False),
    (
        "\\begin{pmatrix} \\frac{1}{2} \\\\ -1 \\end{pmatrix}",
        COT + "\\boxed{\\begin{pmatrix} 0.5 \\\\ -1 \\end{pmatrix}}",
        True,
    ),
    (
        "\\begin{pmatrix} \\frac{1}{2} \\\\ -1 \\end{pmatrix}",
        COT + "\\boxed{\\begin{pmatrix} 0.5 \\\\ 1 \\end{pmatrix}}",
        False,
    ),
    (
        "\\begin{pmatrix} 2x & 0 \\\\ 0 & 1 \\end{pmatrix}",
        COT + "\\boxed{\\begin{pmatrix} x+x & 0 \\\\ 0 & 1 \\end{pmatrix}}",
        True,
    ),
]

EXTRACTION = [
    # Two different boxes are a hedge, even when the second reads as a correction (a policy would learn to
    # box every candidate); see test_math_commitment.py.
    ("8", "I think it is \\boxed{7}. Wait, let me recheck: actually it is \\boxed{8}.", False),
    ("7", "I think it is \\boxed{7}. Wait, let me recheck: actually it is \\boxed{8}.", False),
    ("\\frac{1}{2}", COT + "\\fbox{$\\frac{1}{2}$}", True),
    ("\\{1, 2\\}", COT + "\\boxed{\\{1, 2\\}}", True),
    ("3", COT + "The answer is \\boxed{3}, since 4 > 3.", True),
    ("4", COT + "The final answer is $4$. I hope it is correct.", True),
    ("4", COT + "The final answer is $5$. I hope it is correct.", False),
    ("9", COT + "#### 9\n", True),
    ("9", "", False),
    ("9", COT + "I am not sure how to solve this.", False),
    ("2", COT + "\\boxed{2} \n\n Note that 5 is not the answer.", True),
    ("42", COT + "\\boxed{42", False),  # truncated box: visibly cut off, so not rescued by the fallback
]

ALL_ROWS = (
    INTEGERS
    + FRACTIONS_DECIMALS
    + PERCENT_UNITS
    + LATEX_FORMS
    + SYMBOLIC
    + EQUATIONS
    + TUPLES_SETS_INTERVALS
    + MATRICES
    + EXTRACTION
)


def test_table_is_large_and_balanced():
    assert len(ALL_ROWS) >= 150
    wrong = sum(1 for _, _, expected in ALL_ROWS if not expected)
    assert wrong >= 60  # near misses are half the point of the table


@pytest.mark.parametrize("gold, response, expected", ALL_ROWS, ids=[f"{g[:20]}|{r[-30:]}" for g, r, _ in ALL_ROWS])
def test_check(gold, response, expected):
    outcome = check(response, gold)
    assert outcome.correct is expected, (outcome.reason, outcome.details)
    assert outcome.score == (1.0 if expected else 0.0)
    assert outcome.reason.split(":")[0] == "correct" if expected else outcome.reason.split(":")[0] != "correct"


def test_gold_given_as_a_full_solution_and_bare_answers():
    solution = "We have $2 + 2 = 4$, so the answer is $\\boxed{4}$."  # a MATH-style gold solution
    assert check("The answer is 4.", solution).correct
    assert not check("The answer is 5.", solution).correct
    assert check("3/4", "0.75", extract=False).correct  # `extract=False`: the response is the answer itself
    assert not check("The answer is 3/4", "0.75", extract=False).correct


def test_outcome_details_name_the_answer_and_the_method():
    outcome = check(COT + "\\boxed{(x+1)^2}", "x^2+2x+1")
    assert outcome.details["extracted"] == "(x+1)^2" and outcome.details["method"] == "sympy"
    assert check("#### 72", "71").reason == "wrong_answer: got '72', expected '71'"
    assert check(COT + "no idea", "1", fallback_last_number=False).reason == "no_answer"
