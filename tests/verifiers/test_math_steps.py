"""Process supervision's rule labels: steps cut from a response, and each step's claims checked.

Tables of (response, expected verdict per step), including adversarial rows. Time bounds are generous safety
bounds (the machine is shared), not speed tests.
"""

import time
from fractions import Fraction

import pytest

from verifiers._math_steps import chains
from verifiers.math import check_steps
from verifiers.steps import segment

T, F, U = "true", "false", "unverifiable"


@pytest.mark.parametrize(
    "response, mode, texts",
    [
        ("a\nb\n\n  c  \n", "lines", ["a", "b", "c"]),
        ("one line", "lines", ["one line"]),
        ("\n \n\t\n", "lines", []),
        ("x = 1\r\ny = 2", "lines", ["x = 1", "y = 2"]),
        (
            "Step 1: add.\n5 + 3 = 8\nStep 2: multiply. 8 * 3 = 24",
            "markers",
            ["Step 1: add.\n5 + 3 = 8", "Step 2: multiply. 8 * 3 = 24"],
        ),
        (
            "Let me think.\n**Step 1:** 2 + 2 = 4\nstep 2) done",
            "markers",
            ["Let me think.", "**Step 1:** 2 + 2 = 4", "step 2) done"],
        ),
        ("no markers at all\nsecond line", "markers", ["no markers at all\nsecond line"]),
        ("In step 2: this is not a marker", "markers", ["In step 2: this is not a marker"]),  # not at a line start
    ],
)
def test_segment_rules(response, mode, texts):
    steps = segment(response, mode)
    assert [s.text for s in steps] == texts
    assert all(response[s.start : s.end] == s.text for s in steps)  # spans are exact


def test_segment_keeps_the_last_steps_and_refuses_unknown_modes():
    response = "\n".join(f"line {i}" for i in range(100))
    steps = segment(response, max_steps=64)
    assert len(steps) == 64 and steps[0].text == "line 36" and steps[-1].text == "line 99"
    with pytest.raises(ValueError, match="step mode must be one of"):
        segment("x", mode="sentences")
    assert segment(None) == []


@pytest.mark.parametrize(
    "step, expected",
    [
        ("First, 5 + 3 = 8.", [["5 + 3", "8"]]),
        ("We get (5 + 3) * 3 - 4 = 8 * 3 - 4 = 24 - 4 = 20, done", [["(5 + 3) * 3 - 4", "8 * 3 - 4", "24 - 4", "20"]]),
        ("$7 \\times 6 = 42$ and 42 + 1 = 43", [["7 \\times 6", "42"], ["42 + 1", "43"]]),
        ("So \\boxed{20} = 20", [["20", "20"]]),
        ("3x + 4 = 19", [["3x + 4", "19"]]),
        ("2^{10} = 1024", [["2^{10}", "1024"]]),
        ("The total is 1,000 + 1 = 1001", []),  # a thousands separator: no claim read from the middle of a number
        ("Total: 12345678901234 = 5", []),  # longer than an operand may be
        ("The answer is 8.", []),
        ("the ratio a:b = 2", []),  # `a:b` is not arithmetic
    ],
)
def test_claims_read_from_a_step(step, expected):
    assert chains(step) == expected


STEP_TABLE = [
    # honest work
    ("5 + 3 = 8\n8 * 3 = 24\n24 - 4 = 20", [T, T, T]),
    ("(5 + 3) * 3 - 4 = 8 * 3 - 4 = 24 - 4 = 20", [T]),
    ("0.1 + 0.2 = 0.3", [T]),  # exact arithmetic, no float error
    ("5 - 8 = -3\n-3 * -3 = 9", [T, T]),
    ("3 * 4 = 12 apples", [T]),
    ("\\frac{6}{4} = 1.5 = \\frac{3}{2}", [T]),
    ("\\sqrt{16} = 4", [T]),  # not plain arithmetic: the sympy worker decides
    # slips
    ("5 + 3 = 8\n8 * 3 = 25\n25 - 4 = 21", [T, F, T]),  # the slip is the bad step; later steps are right given it
    ("7 / 2 = 3", [F]),
    ("2 + 2 = 4 = 5", [F]),  # one false link spoils the chain
    ("2 + 2 = 4 and 3 + 3 = 7", [F]),
    # nothing to check
    ("Let's add the numbers first.", [U]),
    ("3x = 15", [U]),  # an equation in an unknown is not an identity
    # hostile text: refused, bounded, never raised
    ("__import__('os').system('echo hi') = 5", [U]),
    ("9^{9^{9^9}} = 1", [U]),
    ("2^{100000} = 1", [U]),
    ("(" * 500 + "1" + ")" * 500 + " = 1", [U]),
    ("1 + " * 50_000 + "1 = 2", [U]),  # read up to MAX_STEP_CHARS: the chain is cut, nothing left to check
]


@pytest.mark.parametrize("response, verdicts", STEP_TABLE)
def test_check_steps_table(response, verdicts):
    start = time.monotonic()
    judged = check_steps(response, timeout=5.0)
    assert [s.verdict for s in judged] == verdicts
    assert time.monotonic() - start < 10.0
    assert all(s.outcome is None for s in judged)  # no gold, no outcome check


def test_claims_per_step_are_capped():
    judged = check_steps("2 + 2 = 4, " * 100)
    assert judged[0].verdict == T and judged[0].claims == 8


def test_substitution_checks_equations_of_a_solve_for_x_task():
    response = "3x + 4 = 19\n3x = 19 - 4 = 15\nx = 15 / 3 = 5\n3x = 16"
    judged = check_steps(response, substitute={"x": "5"})
    assert [s.verdict for s in judged] == [T, T, T, F]
    assert judged[3].reason == "3x = 16 is false"
    assert [s.verdict for s in check_steps("x = -\\frac{3}{2}\n2x = -3", substitute={"x": "-\\frac{3}{2}"})] == [T, T]
    assert [s.verdict for s in check_steps("y = 2", substitute={"x": "5"})] == [U]  # another unknown


def test_the_final_step_carries_the_outcome():
    right = "5 + 3 = 8\n8 * 3 = 24\nSo the answer is \\boxed{24}."
    judged = check_steps(right, "24")
    assert [s.label for s in judged] == [1.0, 1.0, 1.0] and judged[-1].outcome.correct
    assert all(s.outcome is None for s in judged[:-1])
    wrong_answer = check_steps("5 + 3 = 8\nSo \\boxed{9}.", "24")
    assert [s.label for s in wrong_answer] == [1.0, 0.0] and wrong_answer[-1].verdict == U
    slip_at_the_end = check_steps("5 + 3 = 8\n8 * 3 = 25 = \\boxed{25}", "25")  # right "answer", false claim
    assert [s.label for s in slip_at_the_end] == [1.0, 0.0]
    assert check_steps("", "5") == [] and [s.label for s in check_steps("Hmm.")] == [None]


def test_a_step_list_is_returned_even_when_time_runs_out():
    judged = check_steps("\\sqrt{16} = 4\n" * 20, timeout=0.01)
    assert len(judged) == 20 and {s.verdict for s in judged} <= {T, U}


# ----------------------------------------------------------------------------- progress, not repetition

from verifiers.steps import mark_repeats, progress_rewards, repeated_claims  # noqa: E402

# Completions the policy wrote at step 8 of the committed GRPO+PS runs (benchmarks/process_supervision/runs/
# ps-seed1 and ps-seed2, outcomes.jsonl), where every true line earned a step reward.
FOUR_PLUS_SEVEN = (
    "1. 12 + 2 = 24\n2. 4 + 7 = 11\n3. 4 + 7 = 11\n4. 4 + 7 = 11\n5. 4 + 7 = 11\n6. 4 + 7 = 11\n"
    "7. 4 + 7 = 11\n8. 4 + 7 = 11\n9. 4 + 7 = 11\n10. 4 + 7 = 11\n11. 4 +"
)  # (12 + 2) * 7
SIX_PLUS_SIX = (
    "1. 6 + 6 = 12\n2. 6 + 6 = 12\n3. 6 + 6 = 12\n4. 6 + 6 = 12\n5. 6 + 6 = 12\n6. 6 + 6 = 12\n"
    "7. 6 + 6 = 12\n8. 6 + 6 = 12\n9. 6 + 6 = 12\n10. 6 + 6 = 12\n11. 6 + "
)  # (6 + 6) * 2
DOUBLING = (
    "1. 6 + 6 = 12\n2. 12 + 12 = 24\n3. 24 + 24 = 48\n4. 48 + 48 = 96\n5. 96 + 96 = 188\n6. 188 + 188 = 376\n"
    "7. 376 + 376 = 752\n8. 752 + 752 = 1014\n\nThe answer is 10"
)  # (6 + 6) * 2: new claims, no answer
MIXED_REPEATS = (
    "1. 6 + 6 = 12\n2. 4 + 7 = 11\n3. 4 + 7 = 11\n4. 11 + 11 = 22\n5. 11 + 11 = 22\n6. 11 + 11 = 22\n"
    "7. 11 + 11 = 22\n8. 11 + 11 = 22\n9. 11 + 11 = 22\n10. 11 + "
)
HONEST = "6 + 6 = 12\n12 * 2 = 24\n\\boxed{24}"


@pytest.mark.parametrize(
    "texts, expected",
    [
        (
            ["4 + 7 = 11", "4+7=11", "11 = 7 + 4", "7 + 4 = 11 and 11 * 3 = 33", "11 * 3 = 33"],
            [False, True, True, False, True],
        ),  # blanks, sides and terms in another order are the same claim
        (["(4 + 7) * 3 = 11 * 3 = 33", "11 * 3 = 33"], [False, True]),  # a link of an earlier chain
        (["4 + 7 = 11", "So we have 11.", "4 + 7 = 12"], [False, False, False]),  # no claim; another value
        (["0.5 + 0.5 = 1", "\\frac{1}{2} + \\frac{1}{2} = 1"], [False, False]),  # \frac is a division, not 0.5
        (["11 \\times 3 = 33", "11 * 3 = 33", "3 × 11 = 33"], [False, True, True]),
    ],
)
def test_repeated_claims(texts, expected):
    assert repeated_claims(texts) == expected


@pytest.mark.parametrize(
    "response, gold, labels",
    [
        # Before: [0, 1 x 9, 0], nine rewarded copies of the prompt's example. Now only its first copy counts.
        (FOUR_PLUS_SEVEN, "98", [0.0, 1.0] + [0.0] * 9),
        (SIX_PLUS_SIX, "24", [1.0] + [0.0] * 10),  # before: [1] * 10 + [0]
        (MIXED_REPEATS, "24", [1.0, 1.0, 0.0, 1.0] + [0.0] * 6),
        (DOUBLING, "24", [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]),  # all new claims: the bound handles it
        (HONEST, "24", [1.0, 1.0, 1.0]),
        ("6 + 6 = 12\n12 * 2 = 24\n12 * 2 = 24 so \\boxed{24}", "24", [1.0, 1.0, 1.0]),  # the answer may restate
    ],
)
def test_repeats_of_the_gamed_runs_earn_no_positive_label(response, gold, labels):
    judged = mark_repeats(check_steps(response, gold), response)
    assert [s.label for s in judged] == labels


@pytest.mark.parametrize(
    "response, gold, rewards",
    [
        # Level 1 ((a + b) * c) is bounded at 2 operations + 1 = 3 rewarded steps: at most two before the answer.
        (DOUBLING, "24", [1.0, 1.0, None, None, 0.0, None, None, 0.0, 0.0]),
        (MIXED_REPEATS, "24", [1.0, 1.0, 0.0, None] + [0.0] * 6),
        (FOUR_PLUS_SEVEN, "98", [0.0, 1.0] + [0.0] * 9),
        (HONEST, "24", [1.0, 1.0, 1.0]),
    ],
)
def test_rewarded_steps_are_bounded(response, gold, rewards):
    judged = mark_repeats(check_steps(response, gold), response)
    labels = [s.label for s in judged]
    bounded = progress_rewards(labels, [s.repeated for s in judged], max_rewarded=3)
    assert bounded == rewards
    assert sum(1 for r in bounded if r and r > 0) <= 3
    assert progress_rewards(bounded, [s.repeated for s in judged], max_rewarded=3) == bounded  # idempotent


def test_progress_rewards_by_hand():
    # A step RM's scores (all positive): steps 2 and 4 repeat earlier claims -> 0; of the rest, the first
    # max_rewarded - 1 = 2 before the last keep their score, the next (0.7) gets no reward; the last keeps 0.9.
    scores = [0.8, 0.6, 0.3, 0.7, 0.5, 0.9]
    repeated = [False, True, False, True, False, True]  # the last step's flag is ignored: it carries the answer
    assert progress_rewards(scores, repeated, max_rewarded=3) == [0.8, 0.0, 0.3, 0.0, None, 0.9]
    assert progress_rewards(scores, repeated) == [0.8, 0.0, 0.3, 0.0, 0.5, 0.9]  # no bound: only repeats
    assert progress_rewards([None, 0.0, 1.0], [False, False, False], max_rewarded=1) == [None, 0.0, 1.0]
    assert progress_rewards([1.0, 1.0], [False, False], max_rewarded=1) == [None, 1.0]
    assert progress_rewards([], []) == []
    with pytest.raises(ValueError, match="max_rewarded must be >= 1"):
        progress_rewards([1.0], [False], max_rewarded=0)
    with pytest.raises(ValueError, match="2 step rewards but 1 repeat flags"):
        progress_rewards([1.0, 1.0], [False])


# ----------------------------------------------------------------------------- path labels


@pytest.mark.parametrize(
    "step, results",
    [
        ("10 * 2 = 20", [Fraction(20)]),
        ("2x = 11 - 3 = 8", [Fraction(8)]),
        ("x = 8 / 2 = 4", [Fraction(4)]),
        ("So 6 + 4 = 10 and 10 * 9 = 90.", [Fraction(10), Fraction(90)]),
        ("1/2 + 1/4 = 3/4", [Fraction(3, 4)]),
        ("The answer is \\boxed{90}", []),  # no equality: nothing arrived at
        ("x = y + 1", []),  # no plain-number side
    ],
)
def test_step_results_by_hand(step, results):
    from verifiers._math_steps import step_results

    assert step_results(step) == results


# (6 + 4) * 9 = 90: an honest solution computes 10, then 90. The ps_rtg runs wrote true arithmetic this problem
# does not need and were paid for it (benchmarks/process_supervision_v2/runs/ps_rtg-seed0, step 14).
OFF_PATH = "6 + 4 = 10\n10 * 2 = 20\n20 * 3 = 60\n60 * 4 = 240\n\\boxed{240}"
ON_PATH = "6 + 4 = 10\n10 * 9 = 90\n\\boxed{90}"
OTHER_ORDER = "4 + 6 = 10\n9 * 10 = 90\n\\boxed{90}"
OTHER_ROUTE = "6 * 9 = 54\n4 * 9 = 36\n54 + 36 = 90\n\\boxed{90}"  # right, by values not on the path


@pytest.mark.parametrize(
    "response, labels",
    [
        (OFF_PATH, [1.0, 0.0, 0.0, 0.0, 0.0]),  # before: [1, 1, 1, 1, 0]
        (ON_PATH, [1.0, 1.0, 1.0]),
        (OTHER_ORDER, [1.0, 1.0, 1.0]),
        (OTHER_ROUTE, [0.0, 0.0, 1.0, 1.0]),  # the documented cost: the answer step still pays
        ("6 + 4 = 10\n10 * 9 = 91\n\\boxed{91}", [1.0, 0.0, 0.0]),  # false stays false, whatever its value
        ("6 + 4 = 10\nNow multiply by nine.\n10 * 9 = 90\n\\boxed{90}", [1.0, None, 1.0, 1.0]),  # prose unjudged
    ],
)
def test_steps_off_the_solution_path_earn_no_positive_label(response, labels):
    from verifiers.steps import mark_off_path

    judged = mark_off_path(mark_repeats(check_steps(response, "90"), response), response, ["10", "90"])
    assert [s.label for s in judged] == labels
    plain = [s.label for s in mark_repeats(check_steps(response, "90"), response)]
    assert all(p == q or (p == 1.0 and q == 0.0) for p, q in zip(plain, labels))  # only ever takes pay away


def test_off_path_marking_leaves_the_answer_step_and_refuses_a_bad_path():
    from verifiers.steps import mark_off_path

    judged = mark_off_path(check_steps("6 + 4 = 10\n10 * 2 = 20", "20"), "6 + 4 = 10\n10 * 2 = 20", ["10", "90"])
    assert [s.off_path for s in judged] == [False, False]  # the last step is judged by its outcome alone
    assert mark_off_path([], "", ["1"]) == []
    with pytest.raises(ValueError, match="path value 'ten' is not a plain number"):
        mark_off_path(judged, "x", ["ten"])
