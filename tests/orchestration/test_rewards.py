import math

import pytest
import torch

from orchestration.rewards import prompt_text, rm_monitor, verify
from orchestration.tasks import TaskItem
from verifiers import Outcome

MATH = TaskItem(id="m", prompt="What is 2 + 3? Put your final answer in \\boxed{}.", verifier="math", gold="5")
CODE = TaskItem(
    id="c",
    prompt="Write inc.",
    verifier="code",
    code_prompt='def inc(x):\n    """x + 1"""\n',
    tests="def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n",
    entry_point="inc",
)


def test_verify_routes_math_and_code_in_input_order():
    items = [MATH, CODE, MATH, CODE]
    responses = [
        "So \\boxed{5}.",
        "```python\ndef inc(x):\n    return x + 1\n```",
        "I think 6.",
        "    return x + 2\n",
    ]  # body-only completion, joined to the prompt's signature
    outcomes = verify(items, responses, timeout=10.0)
    assert [o.correct for o in outcomes] == [True, True, False, False]
    assert outcomes[3].score == 0.0 and outcomes[2].reason.startswith("wrong_answer")


def test_verify_reads_an_unpunctuated_final_result_only_from_a_completion_that_ended():
    outcomes = verify([MATH] * 3, ["2 + 3 = 5"] * 3, timeout=10.0, truncated=[False, True, False])
    assert [o.correct for o in outcomes] == [True, False, True]  # the cut one may have been cut mid-number
    assert outcomes[1].reason == "no_answer"
    strict = verify([MATH], ["2 + 3 = 5"], timeout=10.0, fallback_last_number=False, truncated=[False])
    assert strict[0].reason == "no_answer"


def test_a_broken_verifier_becomes_outcomes_not_a_crash(monkeypatch):
    import verifiers.math

    def boom(*args, **kwargs):
        raise RuntimeError("worker pool died")

    monkeypatch.setattr(verifiers.math, "check_batch", boom)
    outcomes = verify([MATH, MATH], ["\\boxed{5}", "\\boxed{5}"], timeout=1.0)
    assert [o.correct for o in outcomes] == [False, False]
    assert outcomes[0].reason == "verifier_error: RuntimeError: worker pool died"


def test_prompt_text_of_chat_prompts():
    chat = TaskItem(
        id="x",
        prompt=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "1+1?"}],
        verifier="math",
        gold="2",
    )
    assert prompt_text(chat) == "1+1?" and prompt_text(MATH) == MATH.prompt


def test_rm_monitor_leaves_out_broken_verifiers_and_survives_a_broken_rm():
    outcomes = [Outcome(True, 1.0, ""), Outcome(False, 0.0, ""), Outcome(False, 0.0, "internal_error: boom")]
    # Without the error row (which the RM ranks above the right answer) the one pair is ranked right.
    metrics = rm_monitor(torch.tensor([0.6, 0.1, 0.9]), outcomes, ["a"] * 3, prefix="rm_frozen")
    assert metrics == {
        "rm_frozen/heldout_ranking_accuracy": 1.0,
        "rm_frozen/heldout_pairs": 1,
        "rm_frozen/heldout_auc": 1.0,
    }
    broken = rm_monitor(torch.tensor([math.nan, 0.1, 0.2]), outcomes, ["a"] * 3)
    assert broken["rm/heldout_pairs"] == 0 and math.isnan(broken["rm/heldout_auc"])


def test_rm_monitor_against_hand_counts():
    # group a: correct 0.9 vs wrong 0.1 (right) and 0.95 (wrong order); group b: a tie (counts half)
    scores = torch.tensor([0.9, 0.1, 0.95, 0.3, 0.3])
    outcomes = [
        Outcome(True, 1.0, ""),
        Outcome(False, 0.0, ""),
        Outcome(False, 0.0, ""),
        Outcome(True, 1.0, ""),
        Outcome(False, 0.0, ""),
    ]
    metrics = rm_monitor(scores, outcomes, ["a", "a", "a", "b", "b"])
    assert metrics["rm/heldout_pairs"] == 3
    assert metrics["rm/heldout_ranking_accuracy"] == pytest.approx((1 + 0 + 0.5) / 3)
    # AUC over all 5: positives {0.9, 0.3}, negatives {0.1, 0.95, 0.3}: (1+0+1 + 1+0+0.5) / 6
    assert metrics["rm/heldout_auc"] == pytest.approx(3.5 / 6)
    single = rm_monitor(torch.tensor([0.1, 0.2]), outcomes[1:3], ["a", "a"])
    assert single["rm/heldout_pairs"] == 0 and math.isnan(single["rm/heldout_ranking_accuracy"])
