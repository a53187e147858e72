"""Answer forms a careful grader accepts, each in both directions: the right form accepted, a wrong one rejected.
`(gold, response, expected)` tables of realistic model output, one per category of issue #22 (relations,
equations, lists and sets, text around the answer, numbers and units, matrices and sums, decimal commas).

`benchmarks/bench_math_verifier.py --agreement` reads `CATEGORIES` to measure this verifier and math-verify side
by side on the same rows. Our own verdicts on these rows are asserted here, so our column there is 100% by
construction: the informative figures are math-verify's, and the rows it is right on that we are not.
Run: python -m pytest tests/verifiers/test_math_forms.py -q
"""

import pytest

from verifiers.math import check

COT = "Let's solve this step by step.\nWe set up the problem and simplify.\n"

RELATIONS = [
    ("x < 1", COT + "Dividing by $-1$ flips the sign: $\\boxed{-x > -1}$.", True),
    ("-x > -1", COT + "So $\\boxed{x < 1}$.", True),
    ("x < 1", COT + "So $\\boxed{1 > x}$.", True),
    ("x \\le 3", COT + "So $\\boxed{2x \\le 6}$.", True),
    ("x \\le 3", COT + "So $\\boxed{-2x \\ge -6}$.", True),
    ("x < 1", COT + "So $\\boxed{x > 1}$.", False),
    ("x < 1", COT + "So $\\boxed{-x < -1}$.", False),  # scaled by -1 without flipping
    ("x < 1", COT + "So $\\boxed{x \\le 1}$.", False),
    ("x \\le 3", COT + "So $\\boxed{-2x \\le -6}$.", False),
    ("(0,1)", COT + "The range is $\\boxed{0<f(x)<1}$.", True),
    ("0<f(x)<1", COT + "The range of $f$ is $\\boxed{(0,1)}$.", True),
    ("0<f(x)<1", COT + "The range of $f$ is $\\boxed{[0,1)}$.", False),
    ("(0,1)", COT + "The range is $\\boxed{0<f(x) \\le 1}$.", False),
    ("(-\\infty, 1)", COT + "So $\\boxed{-x > -1}$.", True),
    ("(-2, 2)", COT + "So $\\boxed{x^2 < 4}$.", True),
    ("(-2, 2)", COT + "So $\\boxed{x^2 > 4}$.", False),
    ("[-2, 7]", COT + "So $\\boxed{x \\in [-2, 7]}$.", True),
    ("x \\in [-2, 7]", COT + "So $\\boxed{-2 \\le x \\le 7}$.", True),
    ("x \\in [-2, 7]", COT + "So $\\boxed{x \\in (-2, 7]}$.", False),
    ("[-2, 7]", COT + "So $\\boxed{x \\in [-7, 2]}$.", False),
    # Unboxed: a relation in the final statement is the answer, compared as a relation (never read as its bound).
    ("x \\ge 4", COT + "Therefore $x \\geq 4$ is the solution.", True),
    ("x \\le 2", COT + "Thus $x <= 2$ is our answer.", True),
    ("x \\le 2", COT + "Thus $x < 2$ is our answer.", False),
    ("y > 7", "y > 7", True),
    ("y > 7", "y >= 7", False),
]

EQUATIONS = [
    ("x = 11", COT + "Hence $\\boxed{11}$.", True),
    ("11", COT + "Hence $\\boxed{x = 11}$.", True),
    ("x = 11", COT + "Hence $\\boxed{12}$.", False),
    ("11", COT + "Hence $\\boxed{x = -11}$.", False),
    ("AB=4, CD=5", COT + "The lengths are $\\boxed{4, 5}$.", True),
    ("AB=4, CD=5", COT + "So $\\boxed{AB = 4, CD = 5}$.", True),
    ("AB=4, CD=5", COT + "The lengths are $\\boxed{4, 6}$.", False),
    ("AB=4, CD=5", COT + "The length is $\\boxed{4}$.", False),
    ("\\frac{NO}{BO}=\\frac{1}{\\sqrt6}", COT + "The ratio is $\\boxed{\\frac{1}{\\sqrt6}}$.", True),
    ("\\frac{NO}{BO}=\\frac{1}{\\sqrt6}", COT + "The ratio is $\\boxed{\\frac{\\sqrt6}{6}}$.", True),
    ("\\frac{NO}{BO}=\\frac{1}{\\sqrt6}", COT + "The ratio is $\\boxed{\\sqrt6}$.", False),
    ("|AB|=1", COT + "So $\\boxed{1}$.", True),
    ("|AB|=1", COT + "So $\\boxed{|AB| = 1}$.", True),
    ("|AB|=1", COT + "So $\\boxed{2}$.", False),
    ("\\angle ABC = 30^\\circ", COT + "So $\\boxed{30}$.", True),
    ("\\angle ABC = 30^\\circ", COT + "So $\\boxed{60^\\circ}$.", False),
    ("x + y = 5", COT + "So $\\boxed{5}$.", False),  # an equation in two unknowns is not a label
    ("2x+4y-3=0", COT + "The line is $\\boxed{y=-\\frac12x+\\frac34}$.", True),
    ("y=-\\frac12x+\\frac34", COT + "The line is $\\boxed{2x+4y-3=0}$.", True),
    ("2x+4y-3=0", COT + "The line is $\\boxed{y=-\\frac12x-\\frac34}$.", False),
    ("2x+4y-3=0", COT + "The line is $\\boxed{y=-2x+\\frac34}$.", False),
    ("D=(0,1)", COT + "The domain is $\\boxed{(0,1)}$.", True),
    ("D=[0,1)", COT + "The domain is $\\boxed{D = [0, 1)}$.", True),
    ("D=[0,1)", COT + "The domain is $\\boxed{x \\in [0,1)}$.", True),
    ("D=[0,1)", COT + "The domain is $\\boxed{D = [0, 1]}$.", False),
    ("D=(0,1)", COT + "The domain is $\\boxed{(1,0)}$.", False),
    # Unboxed: closing maths that names a value or is an implicit equation is kept whole, a computation is not.
    ("3x-6y+2=0", COT + "So the line is $y=\\frac{x}{2}+\\frac13$.", True),
    ("3x-6y+2=0", COT + "So the line is $y=\\frac{x}{2}-\\frac13$.", False),
    ("y=\\frac{x}{2}+\\frac13", COT + "So the line is $3x-6y+2=0$.", True),
    ("q = 3, q = -\\frac{7}{4}", COT + "So $q=3, q=-\\frac{7}{4}$.", True),
    ("q = 3, q = -\\frac{7}{4}", COT + "So $q=3, q=\\frac{7}{4}$.", False),
    ("12", COT + "So $3 \\cdot 4 = 12$.", True),
]

LISTS_SETS = [
    ("1; 2", COT + "The solutions are $\\boxed{1, 2}$.", True),
    ("1, 2", COT + "The solutions are $\\boxed{1; 2}$.", True),
    ("1; 2", COT + "The solutions are $\\boxed{1; 3}$.", False),
    ("\\{-2021, 2021\\}", COT + "So $x = \\boxed{\\pm 2021}$.", True),
    ("\\pm 2021", COT + "So $\\boxed{\\{2021, -2021\\}}$.", True),
    ("\\{-2021, 2021\\}", COT + "So $x = \\boxed{2021}$.", False),
    ("\\{-2021, 2021\\}", COT + "So $x = \\boxed{\\pm 2020}$.", False),
    ("$\\boxed{1}\\boxed{2}$", COT + "So \\boxed{1} and \\boxed{2}.", True),
    ("$\\boxed{1}\\boxed{2}$", COT + "So \\boxed{2}.", False),
    ("1, 2", COT + "So \\boxed{2} and \\boxed{1}.", True),
    ("1, 2", COT + "So \\boxed{2} and \\boxed{3}.", False),
    ("\\{1, 2, 3\\}", COT + "The roots are $\\boxed{3, 1, 2}$.", True),
    ("\\{1, 2, 3\\}", COT + "The roots are $\\boxed{3, 1}$.", False),
    ("\\{1, 2\\}", COT + "So the set is $\\boxed{\\{1, 1, 2\\}}$.", True),
    ("\\{1, 2\\}", COT + "So the set is $\\boxed{\\{1, 2, 2, 3\\}}$.", False),
    ("\\{1, 1, 2\\}", COT + "So the set is $\\boxed{\\{2, 1\\}}$.", True),
    ("(1, 4), (4, 1)", COT + "The pairs are $\\boxed{(4, 1), (1, 4), (4,1)}$.", True),  # one pair listed twice
    ("(1, 4), (4, 1)", COT + "The pairs are $\\boxed{(4, 1), (4, 1)}$.", False),
]

TEXT_AROUND = [
    ("120", COT + "Final Answer: The volume of $ABCDEFGH$ is 120. I hope it is correct.", True),
    ("120", COT + "Final Answer: The volume of $ABCDEFGH$ is 125. I hope it is correct.", False),
    ("\\frac{2}{3}", COT + "So the answer is 2/3. <|im_start|>user", True),
    ("\\frac{2}{3}", COT + "The probability is $\\boxed{\\frac{2}{3}}$.<|im_end|>\n<|im_start|>user\nNext?", True),
    ("\\frac{2}{3}", COT + "So the answer is 3/4. <|im_start|>user\nThe answer is 2/3.", False),
    ("\\frac{2}{3}", COT + "So 1 - 1/3 = 2/3.<|endoftext|>", True),
    ("10455", COT + "First \\boxed{200}, then \\boxed{255}.\nThe final answer is $10,455$.", True),
    ("255", COT + "First \\boxed{200}, then \\boxed{255}.\nThe final answer is $10,455$.", False),
    ("10455", COT + "First \\boxed{200}, then \\boxed{255}.\nThe final answer is $10,456$.", False),
    ("255", COT + "First \\boxed{200}, then \\boxed{255}.\nThe final answer is in the box above.", False),
]

NUMBERS_UNITS = [
    ("11111111100", COT + "So $\\boxed{11,\\!111,\\!111,\\!100}$.", True),
    ("11111111100", COT + "So $\\boxed{11,\\!111,\\!111,\\!000}$.", False),
    ("14916", COT + "So $\\boxed{14{,}916}$.", True),
    ("14916", COT + "So $\\boxed{14{,}961}$.", False),
    ("1000000", COT + "So $\\boxed{1\\,000\\,000}$.", True),
    ("28\\%", COT + "The answer is 28 percent.", True),
    ("28\\%", COT + "The answer is $28$ %.", True),
    ("28", COT + "The answer is $\\boxed{28\\%}$.", True),
    ("28\\%", COT + "The answer is 82 percent.", False),
    ("10", COT + "The distance is $\\boxed{10\\textnormal{ miles}}$.", True),
    ("10", COT + "The distance is $\\boxed{10\\text{ miles}}$.", True),
    ("10", COT + "The distance is $\\boxed{12\\textnormal{ miles}}$.", False),
    ("5", COT + "The answer is $\\boxed{5\\text{}}$.", True),
    ("3333333300", COT + "So $\\boxed{3,\\! 333,\\! 333,\\! 300}$.", True),  # a space after each `\\!`
    ("3333333300", COT + "So $\\boxed{3,\\! 333,\\! 333,\\! 330}$.", False),
    # A response that is nothing but its answer, on one line.
    ("\\frac{7}{3}", "\\frac{7}{3}", True),
    ("\\frac{7}{3}", "\\frac{3}{7}", False),
    ("45\\%", "45 percent", True),
    ("45\\%", "$45$ %", True),
    ("45\\%", "54 %", False),
    ("4", "So it is 4", False),  # prose that never ended is not a bare answer
]

MATRICES_SUMS = [
    (
        "\\begin{pmatrix} 4 \\\\ 6 \\end{pmatrix}",
        COT + "$\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix} + \\begin{pmatrix} 3 \\\\ 4 \\end{pmatrix}}$",
        True,
    ),
    (
        "\\begin{pmatrix} 4 \\\\ 6 \\end{pmatrix}",
        COT + "$\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix} + \\begin{pmatrix} 3 \\\\ 5 \\end{pmatrix}}$",
        False,
    ),
    (
        "\\begin{pmatrix} 2 & 4 \\\\ 6 & 8 \\end{pmatrix}",
        COT + "$\\boxed{2\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}$",
        True,
    ),
    (
        "\\begin{pmatrix} 2 & 4 \\\\ 6 & 8 \\end{pmatrix}",
        COT + "$\\boxed{3\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}$",
        False,
    ),
    (
        "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}",
        COT
        + "$\\boxed{\\begin{pmatrix} 2 & 0 \\\\ 0 & 1 \\end{pmatrix}"
        + " - \\begin{pmatrix} 1 & 0 \\\\ 0 & 0 \\end{pmatrix}}$",
        True,
    ),
    ("\\sum_{k=1}^{n} k^2", COT + "So $\\boxed{\\sum_{i=1}^{n} i^2}$.", True),
    ("\\sum_{k=1}^{n} k^2", COT + "So $\\boxed{\\sum_{i=0}^{n} i^2}$.", True),  # the k = 0 term is 0
    ("\\sum_{k=1}^{n} k^2", COT + "So $\\boxed{\\sum_{i=1}^{n} i^3}$.", False),
    ("\\sum_{k=1}^{n} k^2", COT + "So $\\boxed{\\sum_{k=1}^{n+1} k^2}$.", False),
    ("\\frac{n(n+1)}{2}", COT + "So $\\boxed{\\sum_{k=1}^{n} k}$.", True),
    ("\\frac{n(n-1)}{2}", COT + "So $\\boxed{\\sum_{k=1}^{n} k}$.", False),
    ("1023", COT + "So $\\boxed{\\sum_{i=0}^{9} 2^i}$.", True),
    ("1024", COT + "So $\\boxed{\\sum_{i=0}^{9} 2^i}$.", False),
]

# Decimal commas: accepted where the comma cannot be a thousands separator nor a list separator, against a gold
# that is one number; `1,222` stays one thousand two hundred and twenty-two (and the reason says so).
DECIMAL_COMMA = [
    ("1000.99", COT + "So $\\boxed{1000,99}$.", True),
    ("1.22", COT + "So $\\boxed{1,22}$.", True),
    ("1.22", COT + "The answer is 1,22.", True),
    ("-0.5", COT + "So $\\boxed{-0,5}$.", True),
    ("1.222", COT + "So $\\boxed{1,222}$.", False),  # ambiguous: read as thousands
    ("1222", COT + "So $\\boxed{1,222}$.", True),
    ("122", COT + "So $\\boxed{1,22}$.", False),
    ("1.22", COT + "So $\\boxed{1, 22}$.", False),  # a list of two numbers
    ("1, 22", COT + "So $\\boxed{1,22}$.", True),  # against a list gold, the comma separates items
    ("3,75", COT + "So $\\boxed{3.75}$.", True),  # a gold with a decimal comma, against one number
    ("3,75", COT + "So $\\boxed{3, 75}$.", True),  # ... and against a list, the list it also reads as
    ("3,75", COT + "So $\\boxed{3.57}$.", False),
    ("0,375", COT + "So $\\boxed{0.375}$.", True),  # `0,375` cannot be thousands
    ("0,375", COT + "So $\\boxed{375}$.", False),
]

CATEGORIES = {
    "relations": RELATIONS,
    "equations": EQUATIONS,
    "lists and sets": LISTS_SETS,
    "text around the answer": TEXT_AROUND,
    "numbers and units": NUMBERS_UNITS,
    "matrices and sums": MATRICES_SUMS,
    "decimal comma": DECIMAL_COMMA,
}
ROWS = [(name, *row) for name, rows in CATEGORIES.items() for row in rows]


@pytest.mark.parametrize(
    "category, gold, response, expected", ROWS, ids=[f"{c[:8]}|{g[:14]}|{r[-30:]}" for c, g, r, _ in ROWS]
)
def test_check(category, gold, response, expected):
    outcome = check(response, gold)
    assert outcome.correct is expected, (outcome.reason, outcome.details)
    assert outcome.reason.startswith("correct") is expected
    assert not outcome.is_error and not outcome.reason.startswith("compare_error"), outcome.reason


def test_every_category_is_tested_both_ways():
    for name, rows in CATEGORIES.items():
        assert {expected for _, _, expected in rows} == {True, False}, name


def test_ambiguous_comma_says_how_it_was_read():
    outcome = check("\\boxed{1,222}", "1.222")
    assert outcome.reason.endswith("(read 1,222 as thousands: a comma before three digits is ambiguous)")
    assert check("\\boxed{1,22}", "1.22").details["decimal_comma"] == "read 1,22 with a decimal comma"
