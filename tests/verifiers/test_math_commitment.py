"""A response gets credit only for the answer it commits to: no hedging across several answers, no answer
read from a think block or from text that stops mid-computation. `(gold, response, expected)` tables of
realistic model output, each feature with near misses. Run: python -m pytest tests/verifiers -q
"""

import pytest

from verifiers._math_extract import MAX_ANSWERS, committed_text, extract_answers
from verifiers._math_fallback import fallback_answer
from verifiers.math import check

COT = (
    "Let's solve this step by step.\nFirst, I write down what is given and what is asked.\n"
    "Then I set up the equation and simplify it carefully.\n"
)
QUADRATIC = (
    "We need to solve $x^2 - 5x + 6 = 0$.\nFactoring, $(x - 2)(x - 3) = 0$.\nSo either $x - 2 = 0$ or $x - 3 = 0$.\n"
)
THINK = "<think>\nThe eggs: 16 - 3 - 4 = 9 left, sold at $2 each, so 9 * 2 = 18.\nLet me double check: yes.\n"

HEDGING = [
    ("3", COT + "The answer is either $\\boxed{3}$ or $\\boxed{4}$.", False),
    ("4", COT + "The answer is either $\\boxed{3}$ or $\\boxed{4}$.", False),  # the right one is boxed too
    ("4", COT + "Hmm, it could be \\boxed{3}. Let me reconsider: it is \\boxed{4}.", False),  # a "correction"
    ("3", COT + "So $x = \\boxed{3}$ or $x = \\boxed{4}$.", False),
    ("3", COT + "Therefore $\\boxed{3 \\text{ or } 4}$.", False),
    ("3", COT + "The answer is 3 or 4.", False),
    ("3", COT + "The answer is either 3 or 4.", False),
    ("3", COT + "The answer is 3.\nActually, I think the answer is 4.", False),  # two statements
    ("20", COT + "The answer is 19.\n#### 20", False),
    ("\\text{(C)}", COT + "The correct option is $\\boxed{(C) \\text{ or } (D)}$.", False),
    ("C", COT + "The answer is (C) 12, (D) 14.", False),
    ("x^2+2x+1", COT + "It is \\boxed{(x+1)^2} or maybe \\boxed{(x-1)^2}.", False),
    ("7", COT + "".join(f"Maybe \\boxed{{{n}}}.\n" for n in range(1, MAX_ANSWERS + 3)) + "So \\boxed{7}.", False),
    # The same value boxed or stated twice is one answer.
    ("3", COT + "Thus the answer is \\boxed{3}.\n\nDouble-checking by substitution confirms \\boxed{3}.", True),
    ("\\frac{1}{2}", COT + "The probability is \\boxed{0.5}, i.e. \\boxed{\\frac{1}{2}}.", True),
    ("5", COT + "The side is \\boxed{5} cm, that is \\boxed{5 \\text{ cm}}.", True),
    ("x^2+2x+1", COT + "It is \\boxed{(x+1)^2}, which expands to \\boxed{x^2+2x+1}.", True),
    ("y = 2x + 1", COT + "The line is \\boxed{y = 2x + 1}, i.e. $y$ equals \\boxed{2x + 1}.", True),
    ("20", COT + "The answer is 20.\n#### 20", True),
    ("20", COT + "Let's verify the answer: 5 * 4 = 20.\nThe final answer is 20.", True),
    ("1", COT + "Both roots coincide: \\boxed{1, 1}.", True),
    ("1", COT + "So \\boxed{\\pm 1}.", False),  # two answers
]

SEPARATE_BOXES = [
    ("2, 3", COT + QUADRATIC + "The solutions are $\\boxed{2}$ and $\\boxed{3}$.", True),
    ("2, 3", COT + QUADRATIC + "The solutions are $x = \\boxed{3}$ and $x = \\boxed{2}$.", True),  # any order
    ("\\{2, 3\\}", COT + QUADRATIC + "The solution set is $\\boxed{3}$ and $\\boxed{2}$.", True),
    ("2 \\pm \\sqrt{3}", COT + "The roots are \\boxed{2+\\sqrt{3}} and \\boxed{2-\\sqrt{3}}.", True),
    ("\\pm 1", COT + "So $x = \\boxed{1}$ or $x = \\boxed{-1}$.", True),
    ("(1, 2)", COT + "So $x = \\boxed{1}$ and $y = \\boxed{2}$.", True),  # an ordered pair: in order
    ("(1, 2)", COT + "So $x = \\boxed{2}$ and $y = \\boxed{1}$.", False),
    ("[1, 2]", COT + "The endpoints are \\boxed{1} and \\boxed{2}.", False),  # never an interval
    ("2, 3", COT + QUADRATIC + "The solutions are $\\boxed{2}$ and $\\boxed{4}$.", False),
    ("2, 3", COT + QUADRATIC + "The solutions are \\boxed{2}, \\boxed{3} and \\boxed{4}.", False),
    ("2, 3", COT + QUADRATIC + "The solution is \\boxed{2}.", False),
    ("2, 3", COT + QUADRATIC + "So \\boxed{2}, and again \\boxed{2}.", False),
    ("2, 3", COT + QUADRATIC + "So either x = 2 or x = 3.\nThe answer is x = 2 or x = 3.", True),
    ("2, 3", COT + QUADRATIC + "Hence $\\boxed{x = 2 \\text{ or } x = 3}$.", True),
    ("1, 2, 3", COT + "The roots are \\boxed{1, 2} and \\boxed{3}.", True),
]

THINK_BLOCKS = [
    ("18", THINK + "</think>\n\nJanet makes $\\boxed{18}$ dollars every day.", True),
    ("18", THINK + "</think>\nShe sells 9 eggs at \\$2 each, so she makes 9 * 2 = 18 dollars.", True),
    ("18", THINK + "</think>\n\n**Final Answer**\n\\[\n\\boxed{18}\n\\]", True),
    ("18", THINK + "Maybe \\boxed{17}? No.\n</think>\nThe answer is \\boxed{18}.", True),  # think is not an answer
    ("18", THINK + "</think>", False),  # only a think block
    ("18", THINK + "</think>\n\n", False),
    ("18", THINK + "So the answer is \\boxed{18}.", False),  # the think block never closes
    ("18", THINK, False),
    ("18", THINK + "</think>\nThe answer is 17.", False),
]

FALLBACK = [
    ("7", "3 + 4 = 7.", True),
    ("7", COT + "Adding the two groups, 3 + 4 = 7.", True),
    (
        "18",
        "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day at the farmer's market.",
        True,
    ),
    ("18", COT + "So she makes 9 * 2 = **18** dollars.", True),
    ("12.5", COT + "Altogether, the total cost is $12.50.", True),
    ("10", COT + "First, 3 + 4 = 7. Then 7 + 3 = 10.", True),
    ("10", COT + "Thus the area is\n\\[\nA = 10.\n\\]", True),
    ("\\frac{1}{2}", COT + "So the probability is $\\frac{1}{2}$.", True),
    ("5", COT + "So $2 + 3 = 5$.", True),
    ("1000000", COT + "So the population is 1 000 000.", True),
    ("18", COT + "She sells 9 eggs at $2 each:\n9 * 2 = 18\n\n**18**", True),  # the answer alone on a line
    # Near misses: the response stops, or its last number is an operand.
    (
        "18",
        "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day at the farmer's market",
        False,
    ),
    ("12", COT + "So she needs 3 * 4 = 12", False),  # no full stop: may be cut mid-number
    ("5", COT + "We have 2 + 3 = 5, and then we multiply by", False),
    ("10", COT + "First, 3 + 4 = 7. Then 7 + 3 =", False),
    ("4", "7 = 3 + 4.", False),  # 4 is an operand
    ("12", COT + "So the total is 3 * 4 = 12 + 5.", False),
    ("10", COT + "So it is about 10...", False),
    ("10", COT + "Could the answer be 10?", False),
    ("\\frac{1}{2}", COT + "So the probability is $\\frac{1}{3}$.", False),
    ("42", COT + "\\boxed{42", False),  # a truncated box
    ("5", COT + "So 2 + 3 = 6.", False),
]

ALL_ROWS = HEDGING + SEPARATE_BOXES + THINK_BLOCKS + FALLBACK


@pytest.mark.parametrize("gold, response, expected", ALL_ROWS, ids=[f"{g[:15]}|{r[-35:]}" for g, r, _ in ALL_ROWS])
def test_check(gold, response, expected):
    outcome = check(response, gold)
    assert outcome.correct is expected, (outcome.reason, outcome.details)
    assert outcome.reason.startswith("correct") is expected


def test_each_feature_has_both_verdicts():
    for rows in (HEDGING, SEPARATE_BOXES, THINK_BLOCKS, FALLBACK):
        assert {expected for _, _, expected in rows} == {True, False}


def test_hedging_reason_says_several_answers():
    outcome = check(COT + "Either \\boxed{3} or \\boxed{4}.", "3")
    assert outcome.reason.startswith("wrong_answer: several different answers")
    assert outcome.details["answers"] == 2 and outcome.details["extracted"] == "3, 4"
    spray = check("".join(f"\\boxed{{{n}}}" for n in range(MAX_ANSWERS + 1)), "3")
    assert spray.reason == f"wrong_answer: more than {MAX_ANSWERS} boxed answers"


def test_fallback_is_an_explicit_option():
    response = COT + "Adding the two groups, 3 + 4 = 7."
    assert check(response, "7").correct
    assert check(response, "7", fallback_last_number=False).reason == "no_answer"
    assert check(THINK + "</think>", "18").reason == "no_answer"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("after</think>answer", "answer"),
        ("<think>a</think>b</think>c", "c"),  # the last close tag
        ("<think>never closed \\boxed{1}", ""),
        ("no tags at all", "no tags at all"),
    ],
)
def test_committed_text(text, expected):
    assert committed_text(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("3 + 4 = 7.", "7"),
        ("So we get 1,250 apples.", "1,250"),
        ("So we get 1\u202f250 apples!", "1\u202f250"),
        ("The answer to part one is 3. So the total is **9**.", "9"),
        ("The area is 12 \\text{ cm}^2.", "12"),
        ("The area is 12 m^2.", "12"),
        ("So $x = -\\frac{3}{2}$.", "x = -\\frac{3}{2}"),  # a named value stays whole; the comparer reads it
        ("So $3 \\cdot 4 = 12$.", "12"),
        ("\\[ 2 + 3 = 5 \\]", "5"),
        ("So x = -5.", "-5"),
        ("So the total is:\n\n18", "18"),
        ("-7", "-7"),
        ("3 + 4 = 7", None),  # no terminator
        ("So the sum is 3 - 5.", None),  # an operand of a subtraction
        ("So the sum is 3-5.", None),
        ("We compute \\frac{3}{4}.", None),  # a piece of LaTeX, not a number
        ("Let me think...", None),
        ("Is it 7?", None),
        ("So we get $", None),
        ("", None),
    ],
)
def test_fallback_answer(text, expected):
    assert fallback_answer(text) == expected


def test_extract_answers_keeps_distinct_answers_in_order():
    assert extract_answers("\\boxed{2} then \\boxed{3} then \\boxed{2}").items == ("2", "3")
    assert extract_answers("The answer is 3. Wait. The answer is 4.").items == ("3", "4")
    # An earlier phrase that is not a plain number is prose, not a competing answer.
    assert extract_answers("Answer: first we note x > 0.\nThe answer is 4.").items == ("4",)
    assert extract_answers("<think>\\boxed{1}</think>").items == ()
    assert not extract_answers("\\boxed{1}" * MAX_ANSWERS).excess
    assert extract_answers("\\boxed{1}" * (MAX_ANSWERS + 1)).excess


# (gold, response, expected) when the caller knows the response ended on its own (complete=True): a last line
# that ends on its result has finished even without a full stop; one that ends on a word or operator has not.
COMPLETE = [
    ("15", "11 + 4 = 15", True),
    ("12", COT + "So she needs 3 * 4 = 12", True),
    ("36", "9 * 4 = 36\n", True),
    ("12", COT + "So she needs 3 * 4 = 12 + 5", False),  # 12 is an operand
    ("5", COT + "We have 2 + 3 = 5, and then we multiply by", False),  # ends on a word
    ("10", COT + "First, 3 + 4 = 7. Then 7 + 3 =", False),  # ends on an operator
    ("15", "<think>11 + 4 = 15", False),  # only inside an unclosed think block
    ("16", "11 + 4 = 15", False),
]


@pytest.mark.parametrize("gold, response, expected", COMPLETE, ids=[f"{g}|{r[-30:]}" for g, r, _ in COMPLETE])
def test_check_of_a_response_known_to_be_complete(gold, response, expected):
    assert check(response, gold, complete=True).correct is expected
    if expected:  # the same text cut at a length limit may have been cut mid-number: no answer
        assert check(response, gold).reason == "no_answer"


def test_check_batch_takes_one_complete_flag_per_response():
    from verifiers.math import check_batch

    outcomes = check_batch(["11 + 4 = 15"] * 2, ["15"] * 2, complete=[True, False])
    assert [o.correct for o in outcomes] == [True, False]
    with pytest.raises(ValueError, match="2 responses but 1 complete flags"):
        check_batch(["a", "b"], ["1", "2"], complete=[True])
