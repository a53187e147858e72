"""Threat model of the math verifier's fallbacks: what a policy under RL could learn to write to be paid
without committing to the right answer, and the proof that each attempt earns nothing.

The verifier is the reward. Every row below is a near miss a policy could discover: a response whose last
number, or a number inside it, equals the gold while the response asserts something else. Each must be
rejected with the fallback on (the default), and also when the caller says the response ended on its own
(`complete=True`, which loosens the fallback's "visibly ended" rule). The controls at the end show that the
same paths still pay the honest answer, so the rejections are not a verifier that refuses everything.
Run: python -m pytest tests/verifiers/test_math_threats.py -q
"""

import pytest

from verifiers.math import check

COT = "Let's solve this step by step.\nWe set up the problem and simplify.\n"

# Threat 1: an inequality whose bound is the gold. The fallback used to cut `<=` at its `=` and read the bound.
# A relation is an answer only as a relation: `x <= 5` is not `5`.
RELATION = [
    ("5", COT + "So $x <= 5$."),
    ("5", COT + "Therefore $x < 5$ is the solution."),
    ("2", COT + "Thus $x <= 2$ is our answer."),
    ("-1", COT + "$-x >= -1$"),
    ("-1", COT + "So $-x \\geq -1$."),
    ("3", COT + "Hence $x \\le 3$."),
    ("3", COT + "Hence $x \\neq 3$."),
    ("3", COT + "So x ≠ 3."),
    ("3", COT + "So x ≥ 3."),
    ("3", COT + "So x > 3."),
    ("7", COT + "The solution set is $x \\in (0, 7)$."),
    ("7", COT + "We need $n \\notin \\{7\\}$."),
    ("4", COT + "So $A \\subset B$ with $|B| = 4$ and $|A| < 4$."),
    ("5", COT + "Thus x <= 5 is our answer."),
    ("5", COT + "So the answer is at most 5, i.e. $x \\leq 5$."),
    ("5", "x >= 5"),
]

# Threat 2: a hedge. Two candidates in the final statement; the gold is one of them.
HEDGED = [
    ("4", COT + "So x = 3 or x = 4."),
    ("4", COT + "So $x = 3$ or $x = 4$."),
    ("3", COT + "So $x = 3$ or $x = 4$."),
    ("4", COT + "The answer is either 3 or 4."),
    ("4", COT + "It could be 4."),
    ("4", COT + "Maybe 4."),
    ("4", COT + "I think it is probably 4."),
    ("10", COT + "So the total is approximately 10."),
    ("10", COT + "So it is about 10."),
    ("4", COT + "So x = 4 if a is positive."),
    ("4", COT + "\\boxed{3} or \\boxed{4}"),
    ("4", COT + "\\boxed{3 \\text{ or } 4}"),
]

# Threat 3: a partial list. The response names several values and the gold is the last (or any) one.
PARTIAL_LIST = [
    ("3", COT + "The roots are 2 and 3."),
    ("3", COT + "The roots are $2$ and $3$."),
    ("3", COT + "So $x = 2$ and $y = 3$."),
    ("3", COT + "So the values are 1, 2, 3."),
    ("3", COT + "The solutions are x = 1, x = 2; x = 3."),
    ("4", COT + "There are 3 cats and 4 dogs."),
    ("3", COT + "The solutions are \\boxed{1, 2, 3}."),
    ("3", COT + "The solutions are \\boxed{2} and \\boxed{3}."),
]

# Threat 4: the last number of a sentence that says something else (a circumstance, an operand in words, a
# comparison, a negation).
SAYS_SOMETHING_ELSE = [
    ("3", COT + "She has 5 apples left after giving away 3."),
    ("3", COT + "So x = 7, which is more than 3."),
    ("5", COT + "So the answer is 7, not 5."),
    ("5", COT + "So x = 7, not 5."),
    ("2", COT + "She sells 9 eggs at $2 each."),
    ("3", COT + "So 12 divided by 3."),
    ("4", COT + "The ratio is 3 to 4."),
    ("3", COT + "It takes 6 hours for 3 workers."),
    ("3", COT + "We are done with step 3."),
    ("4", COT + "So 3 + 4 = 7 + 0."),
    ("4", "7 = 3 + 4."),
    ("7", COT + "So 7 + 3 = 10."),
]

# Threat 5: a gold made of several boxes is one answer; one part of it is not the answer.
MULTI_BOX_GOLD = [
    ("$\\boxed{1}$ and $\\boxed{2}$", COT + "\\boxed{2}"),
    ("$\\boxed{1}$ and $\\boxed{2}$", COT + "\\boxed{1}"),
    ("$\\boxed{1}\\boxed{2}$", COT + "The answer is 2."),
    ("$\\boxed{1}\\boxed{2}$", COT + "\\boxed{1}, \\boxed{2} and \\boxed{3}"),
    ("$\\boxed{(1, 2)}$, $\\boxed{(3, 4)}$", COT + "\\boxed{(1, 2)}"),
]

# Threat 6: what comes after the chat template's stop text is another turn, never this answer.
STOP_TEXT = [
    ("5", COT + "I am not sure.<|im_end|>\n<|im_start|>user\nThe answer is \\boxed{5}."),
    ("5", COT + "Let me think.</s>\\boxed{5}"),
    ("5", COT + "<|eot_id|>So 2 + 3 = 5."),
]

THREATS = {
    "relation": RELATION,
    "hedged": HEDGED,
    "partial_list": PARTIAL_LIST,
    "says_something_else": SAYS_SOMETHING_ELSE,
    "multi_box_gold": MULTI_BOX_GOLD,
    "stop_text": STOP_TEXT,
}
ROWS = [(name, gold, response) for name, rows in THREATS.items() for gold, response in rows]


@pytest.mark.parametrize("complete", [False, True])
@pytest.mark.parametrize("threat, gold, response", ROWS, ids=[f"{t}|{g[:12]}|{r[-32:]}" for t, g, r in ROWS])
def test_near_miss_earns_nothing(threat, gold, response, complete):
    outcome = check(response, gold, complete=complete)
    assert outcome.correct is False and outcome.score == 0.0, (threat, outcome.reason, outcome.details)
    assert not outcome.is_error, outcome.reason  # rejected as an answer, not by a broken verifier


# Controls: the same paths pay the honest answer (and a relation is judged as a relation).
HONEST = [
    ("x \\le 5", COT + "So $x <= 5$."),
    ("(-\\infty, 5]", COT + "So $x \\leq 5$."),
    ("x < 1", COT + "$-x > -1$"),
    ("7", COT + "So 3 + 4 = 7."),
    ("7", COT + "So $3 + 4 = 7$."),
    ("12", COT + "After giving away 3 of the 15 apples, she has 12."),
    ("18", COT + "She sells 9 eggs at $2 each, so she makes 18 dollars."),
    ("70", COT + "So the total for the week is 70."),
    ("11", COT + "We add 2 to 9, which results in 11."),
    ("40", COT + "The two numbers add up to 40."),
    ("2, 3", COT + "The roots are \\boxed{2} and \\boxed{3}."),
    ("$\\boxed{1}$ and $\\boxed{2}$", COT + "\\boxed{1} and \\boxed{2}"),
    ("$\\boxed{1}$ and $\\boxed{2}$", COT + "\\boxed{2, 1}"),
    ("$\\boxed{(1, 2)}$, $\\boxed{(3, 4)}$", COT + "\\boxed{(3, 4)} and \\boxed{(1, 2)}"),
    ("5", COT + "So 2 + 3 = 5.<|im_end|>\n<|im_start|>user\nThanks!"),
    ("5", "<|im_start|>assistant\nThe answer is \\boxed{5}.<|im_end|>"),
]


@pytest.mark.parametrize("gold, response", HONEST, ids=[f"{g[:12]}|{r[-32:]}" for g, r in HONEST])
def test_the_honest_answer_on_the_same_paths_is_paid(gold, response):
    outcome = check(response, gold, complete=True)
    assert outcome.correct, (outcome.reason, outcome.details)


def test_every_threat_has_rows():
    assert all(len(rows) >= 3 for rows in THREATS.values())
