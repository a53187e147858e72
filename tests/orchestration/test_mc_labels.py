"""Monte-Carlo step labels: hand-derived labels with fake continue/verify functions, the share budget, the
last-step shortcut, and one run on the tiny random Llama with the real rule verifier."""

import pytest

from orchestration.mc_labels import (
    MCLabel,
    choose_completions,
    monte_carlo_step_labels,
    policy_continue_fn,
    rule_verify_fn,
)
from orchestration.multistep import MultiStepTasks
from orchestration.tasks import TaskItem
from policy.sampling import SamplingConfig, sample_continuations, user_message
from verifiers.steps import segment

ITEM = TaskItem(id="t", prompt="q", verifier="math", gold="1")


class FakePolicy:
    """continue_fn: the j-th of the m continuations of a prefix is "=1" (right) when j < wins[prefix], else "=0".
    Records every call."""

    def __init__(self, wins: dict[str, int]):
        self.wins, self.calls = wins, []

    def __call__(self, items, prefixes, m):
        self.calls.append((list(items), list(prefixes), m))
        return ["=1" if j < self.wins.get(p, 0) else "=0" for p in prefixes for j in range(m)]


def verify_ending(items, texts):
    return [text.endswith("=1") for text in texts]


def labels_for(responses, policy, m=4, share=1.0, seed=0, outcomes=None, verify_fn=verify_ending):
    return monte_carlo_step_labels(
        [ITEM] * len(responses),
        responses,
        [segment(r) for r in responses],
        policy,
        verify_fn,
        m,
        share,
        seed,
        outcomes=outcomes,
    )


def test_hand_derived_labels_and_the_last_step_shortcut():
    # Steps "a", "b", "c" (surrounding blanks are not steps). Prefix "  a\n" (the text up to the step's end, then
    # a newline): 2 of 4 continuations right -> soft 0.5, hard 1. Prefix "  a\n\nb\n": 0 of 4 -> 0, 0. The last
    # step is the completion's own outcome (True): 1 of 1, with no sampling spent on it.
    policy = FakePolicy({"  a\n": 2, "  a\n\nb\n": 0})
    (labels,) = labels_for(["  a\n\nb\nc  \n"], policy, outcomes=[True])
    assert labels == [MCLabel(1.0, 0.5, 2, 4), MCLabel(0.0, 0.0, 0, 4), MCLabel(1.0, 1.0, 1, 1)]
    assert policy.calls == [([ITEM, ITEM], ["  a\n", "  a\n\nb\n"], 4)]  # one batched call, no prefix for "c"
    (labels,) = labels_for(["  a\n\nb\nc  \n"], FakePolicy({"  a\n": 2}), outcomes=[False])
    assert labels[-1] == MCLabel(0.0, 0.0, 0, 1)


def test_without_outcomes_the_last_step_is_sampled_too():
    # m = 3: "x\n" 3 of 3 -> 1, 1; "x\ny\n" 1 of 3 -> soft 1/3, hard 1.
    policy = FakePolicy({"x\n": 3, "x\ny\n": 1})
    (labels,) = labels_for(["x\ny"], policy, m=3)
    assert labels == [MCLabel(1.0, 1.0, 3, 3), MCLabel(1.0, 1 / 3, 1, 3)]
    assert policy.calls[0][1] == ["x\n", "x\ny\n"]


def test_verified_texts_are_prefix_plus_continuation():
    seen = []
    labels_for(
        ["p\nq"],
        lambda items, prefixes, m: ["A", "B"] * len(prefixes),
        m=2,
        outcomes=[True],
        verify_fn=lambda items, texts: seen.extend(texts) or [False] * len(texts),
    )
    assert seen == ["p\nA", "p\nB"]


def test_the_share_budget_is_exact_seeded_and_reproducible():
    # 10 completions with steps (2, 3, ..., 11 lines) and 2 without: share 0.3 labels exactly 3 of the 10.
    responses = ["\n".join("s" * (n + 1) for n in range(2 + i)) for i in range(10)] + ["", "  \n "]
    policy = FakePolicy({})
    labels = labels_for(responses, policy, m=2, share=0.3, seed=7, outcomes=[True] * 12)
    chosen = [i for i, label in enumerate(labels) if label]
    assert len(chosen) == 3 and labels[10] == labels[11] == []  # no steps: nothing to label, never chosen
    assert all(labels[i] is None for i in range(10) if i not in chosen)
    assert all(len(labels[i]) == len(segment(responses[i])) for i in chosen)
    assert chosen == choose_completions([segment(r) for r in responses], 0.3, seed=7)
    # m continuations per labelled step but the last: m * (S - 1) per chosen completion, in one call.
    ((_, prefixes, m),) = policy.calls
    assert len(prefixes) * m == 2 * sum(len(segment(responses[i])) - 1 for i in chosen)
    again = labels_for(responses, FakePolicy({}), m=2, share=0.3, seed=7, outcomes=[True] * 12)
    assert again == labels
    picks = {tuple(choose_completions([segment(r) for r in responses], 0.3, seed=s)) for s in range(20)}
    assert len(picks) > 1 and all(len(p) == 3 for p in picks)
    assert choose_completions([segment(r) for r in responses], 1.0, seed=0) == list(range(10))
    assert len(choose_completions([segment(r) for r in responses], 0.01, seed=0)) == 1  # ceil: at least one


def test_completions_with_nothing_to_sample_cost_nothing():
    policy = FakePolicy({})
    assert labels_for(["", "\n\n", "only one step"], policy, outcomes=[False, False, True]) == [
        [],
        [],
        [MCLabel(1.0, 1.0, 1, 1)],
    ]
    assert labels_for([], policy) == []
    assert policy.calls == []


def test_unjudged_rollouts_leave_a_step_unlabelled():
    # A verdict of None (verifier broke) does not count; a step whose rollouts all went unjudged has no label.
    verdicts = iter([None, True, None, None, None])
    labels = labels_for(
        ["a\nb\nc"],
        FakePolicy({}),
        m=2,
        outcomes=[None],
        verify_fn=lambda items, texts: [next(verdicts) for _ in texts],
    )
    assert labels == [[MCLabel(1.0, 1.0, 1, 1), None, None]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"share": 0.0}, "share must be in"),
        ({"share": 1.5}, "share must be in"),
        ({"m": 0}, "m .* must be >= 1"),
        ({"outcomes": [True, False]}, "one item, response"),
    ],
)
def test_bad_arguments_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        labels_for(["a\nb"], FakePolicy({}), **kwargs)


def test_a_continue_fn_must_return_m_per_prefix():
    with pytest.raises(ValueError, match="m per prefix"):
        labels_for(["a\nb"], lambda items, prefixes, m: ["x"], m=2)


def test_end_to_end_on_the_tiny_policy_with_the_rule_verifier(tiny_model, tokenizer):
    item = MultiStepTasks([1]).item(0)  # Compute (4 + 7) * 7, gold 77
    responses = ["4 + 7 = 11\n11 * 7 = 77\nThe answer is \\boxed{77}.", "4 + 7 = 12\n12 * 7 = 84", "", "\\boxed{5}"]
    steps = [segment(r) for r in responses]
    continue_fn = policy_continue_fn(tiny_model, tokenizer, SamplingConfig(max_new_tokens=8), seed=0)
    labels = monte_carlo_step_labels(
        [item] * 4,
        responses,
        steps,
        continue_fn,
        rule_verify_fn(timeout=5.0),
        m=3,
        share=1.0,
        seed=0,
        outcomes=[True, False, False, False],
    )
    assert [len(label) for label in labels] == [3, 2, 0, 1]
    for completion in labels:
        for k, label in enumerate(completion):
            assert 0.0 <= label.soft <= 1.0 and label.hard == float(label.soft > 0)
            assert label.rollouts == (1 if k == len(completion) - 1 else 3)
            assert label.correct == round(label.soft * label.rollouts)
    assert labels[0][-1].hard == 1.0 and labels[1][-1].hard == 0.0 and labels[3] == [MCLabel(0.0, 0.0, 0, 1)]


def test_policy_continue_fn_sees_the_prompt_the_loop_samples_from(tiny_model, tokenizer):
    # The loop wraps a plain-text prompt as a user message when the tokenizer has a chat template.
    item, cfg = MultiStepTasks([1], worked_example=False).item(0), SamplingConfig(max_new_tokens=6, temperature=0.0)
    texts = policy_continue_fn(tiny_model, tokenizer, cfg, seed=0)([item], ["4 + 7 = 11\n"], 2)
    direct = sample_continuations(tiny_model, tokenizer, [user_message(item.prompt)], ["4 + 7 = 11\n"], 2, cfg)
    assert texts == direct.texts
    plain = sample_continuations(tiny_model, tokenizer, [item.prompt], ["4 + 7 = 11\n"], 2, cfg)
    assert (
        policy_continue_fn(tiny_model, tokenizer, cfg, seed=0, chat=False)([item], ["4 + 7 = 11\n"], 2) == plain.texts
    )


def test_the_rule_verifier_judges_prefix_and_continuation_together():
    # Continuations "\boxed{77}" (right) and "\boxed{3}" (wrong) after each prefix: 1 of 2 -> soft 0.5, hard 1.
    # The last step's prefix already ends in \boxed{77}; a later \boxed{3} is the answer that counts.
    item = MultiStepTasks([1]).item(0)
    response = "4 + 7 = 11\n11 * 7 = 77\n\\boxed{77}"
    verdicts = rule_verify_fn(timeout=5.0)([item] * 2, [response + "\n\\boxed{3}", response])
    assert verdicts == [False, True]
    labels = monte_carlo_step_labels(
        [item],
        [response],
        [segment(response)],
        lambda items, prefixes, m: ["\\boxed{77}", "\\boxed{3}"] * len(prefixes),
        rule_verify_fn(timeout=5.0),
        m=2,
        share=1.0,
        seed=0,
    )
    assert labels == [[MCLabel(1.0, 0.5, 1, 2)] * 3]
