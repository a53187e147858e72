"""Hard negatives: each kind of rewrite, what the rule would accept is dropped, no final answer gives none; the pairs
for the RM trainer; the kinds of a wrong answer for reports."""

import random

import pytest

from orchestration.hard_negatives import (
    candidates,
    digit_swap,
    hard_negative_pairs,
    pick,
    rewrite_answers,
    wrong_kind,
)
from reward_model.data import OutcomeRecord
from verifiers.math import check

Q = "What is 9 * 7? Put your final answer in \\boxed{}."


def rewrites(response, gold="63", prompt=Q):
    return {(r.answer, r.kind): r.response for r in rewrite_answers(response, gold, prompt)}


def test_each_kind_of_rewrite():
    got = rewrites("9 * 7 = 63, so the answer is \\boxed{63}.")
    assert got == {
        ("64", "off_by_one"): "9 * 7 = 64, so the answer is \\boxed{64}.",  # every statement of 63 changes together
        ("62", "off_by_one"): "9 * 7 = 62, so the answer is \\boxed{62}.",
        ("36", "digit_swap"): "9 * 7 = 36, so the answer is \\boxed{36}.",
        ("16", "other_operation"): "9 * 7 = 16, so the answer is \\boxed{16}.",  # 9 + 7
        ("2", "other_operation"): "9 * 7 = 2, so the answer is \\boxed{2}.",  # 9 - 7
        ("-2", "other_operation"): "9 * 7 = -2, so the answer is \\boxed{-2}.",  # 7 - 9
        ("-63", "sign"): "9 * 7 = -63, so the answer is \\boxed{-63}.",
    }
    for text in got.values():  # every one is wrong by the rule, which reads the new answer
        assert check(text, "63").reason.startswith("wrong_answer")


@pytest.mark.parametrize(
    "response, gold, prompt, expected",
    [
        # the answer is also an operand of the question: only its last statement changes
        (
            "12 - 0 = 12",
            "12",
            "What is 12 - 0?",
            {
                ("13", "12 - 0 = 13"),
                ("11", "12 - 0 = 11"),
                ("21", "12 - 0 = 21"),
                ("-12", "12 - 0 = -12"),
                ("0", "12 - 0 = 0"),
            },
        ),
        # a word problem without a box: the rule reads the final statement, and so do the rewrites
        (
            "Mia has 3 + 5 = 8 marbles.",
            "8",
            "Mia has 3 marbles and finds 5 more. How many marbles does Mia have now?",
            {
                ("9", "Mia has 3 + 5 = 9 marbles."),
                ("7", "Mia has 3 + 5 = 7 marbles."),
                ("2", "Mia has 3 + 5 = 2 marbles."),
                ("-2", "Mia has 3 + 5 = -2 marbles."),
                ("15", "Mia has 3 + 5 = 15 marbles."),
                ("-8", "Mia has 3 + 5 = -8 marbles."),
            },
        ),
        # 63 inside 163 or 6.3 is another number and stays
        (
            "163 is not it; 6.3 is not it; \\boxed{63}",
            "63",
            "What is 60 + 3?",
            {
                ("64", "163 is not it; 6.3 is not it; \\boxed{64}"),
                ("62", "163 is not it; 6.3 is not it; \\boxed{62}"),
                ("36", "163 is not it; 6.3 is not it; \\boxed{36}"),
                ("57", "163 is not it; 6.3 is not it; \\boxed{57}"),
                ("-57", "163 is not it; 6.3 is not it; \\boxed{-57}"),
                ("180", "163 is not it; 6.3 is not it; \\boxed{180}"),
                ("-63", "163 is not it; 6.3 is not it; \\boxed{-63}"),
            },
        ),
    ],
)
def test_rewrite_table(response, gold, prompt, expected):
    assert {(r.answer, r.response) for r in rewrite_answers(response, gold, prompt)} == expected


def test_rewrites_the_rule_would_accept_are_dropped():
    # Called on a completion the rule marked wrong (5 for a gold of 6), the off-by-one and 2 * 3 rewrites give 6,
    # which the rule accepts: they are dropped, and only rule-confirmed wrong answers remain.
    got = rewrite_answers("2 + 3 = 5, \\boxed{5}", "6", "What is 2 * 3?")
    assert {r.answer for r in got} == {"4", "-1", "1", "-5"}
    assert check("2 + 3 = 6, \\boxed{6}", "6").correct
    # a gold written as 6.0 is still 6: no rewrite to 6 survives
    assert "6" not in {r.answer for r in rewrite_answers("\\boxed{5}", "6.0", "What is 2 * 3?")}
    assert "0" not in {r.answer for r in rewrite_answers("\\boxed{0}", "0", "What is 5 - 5?")}  # no -0 either


@pytest.mark.parametrize(
    "response",
    [
        "9 * 7 is a product and so on, and",  # no final answer (it stops mid-sentence)
        "",
        "The answer is \\boxed{\\frac{1}{2}}",  # not an integer
        "I think 63 or 64. \\boxed{63} \\boxed{64}",  # two different answers: nothing single to rewrite
    ],
)
def test_no_final_integer_answer_gives_no_rewrite(response):
    assert rewrite_answers(response, "63", Q) == []


def test_candidates_and_digit_swap():
    assert digit_swap(63) == 36 and digit_swap(108) == 180 and digit_swap(-42) == -24
    assert digit_swap(7) is None and digit_swap(55) is None and digit_swap(40) is None  # no 04
    assert candidates(0, [3, 3]) == [
        (1, "off_by_one"),
        (-1, "off_by_one"),
        (6, "other_operation"),
        (9, "other_operation"),
    ]  # 3 - 3 = 0 is the answer itself; no -0


def test_pick_spreads_over_kinds():
    all_rewrites = rewrite_answers("\\boxed{63}", "63", Q)
    two = pick(all_rewrites, 2, random.Random(0))
    assert len(two) == 2 and len({r.kind for r in two}) == 2
    assert len(pick(all_rewrites, 100, random.Random(0))) == len(all_rewrites)


def test_hard_negative_pairs_from_correct_records_only():
    records = [
        OutcomeRecord(Q, "\\boxed{63}", 1.0, "g", "63"),
        OutcomeRecord(Q, "\\boxed{62}", 0.0, "g", "63"),
        OutcomeRecord(Q, "\\boxed{63}", 1.0, "h", None),  # no gold: nothing to confirm a rewrite against
        OutcomeRecord(Q, "It is 63.", 1.0, "i", "63"),
    ]
    pairs, kinds = hard_negative_pairs(records, 1, random.Random(0))
    assert [(p.better, p.reference) for p in pairs] == [("\\boxed{63}", "63"), ("It is 63.", "63")]
    assert all(not check(p.worse, "63").correct for p in pairs) and sum(kinds.values()) == 2
    assert hard_negative_pairs(records, 0, random.Random(0))[0] == []


@pytest.mark.parametrize(
    "response, truncated, expected",
    [
        ("9 * 7 = 64", False, "near_miss"),
        ("\\boxed{73}", False, "near_miss"),  # 10 off: a carry
        ("\\boxed{36}", False, "near_miss"),  # digits swapped
        ("\\boxed{-63}", False, "near_miss"),
        ("\\boxed{16}", False, "other_operation"),  # 9 + 7
        ("\\boxed{2}", False, "other_operation"),
        ("\\boxed{640}", False, "implausible"),
        ("\\boxed{x + 1}", False, "non_integer"),
        ("Let me think about", False, "no_answer"),
        ("9 * 7 = 64 and then 9 * 7 = 6", True, "truncated"),
    ],
)
def test_wrong_kind(response, truncated, expected):
    assert wrong_kind(response, "63", Q, truncated) == expected
