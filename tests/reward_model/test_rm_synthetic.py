"""The policy-shaped synthetic records the integration test and benchmark rely on are labelled right."""

import re

from reward_model.synthetic import make_tagged_records


def boxed(text):
    return re.findall(r"\\boxed\{(-?\d+)\}", text)


def gold(prompt):
    a, op, b = re.match(r"What is (\d+) ([+-]) (\d+)\?", prompt).groups()
    return int(a) + int(b) if op == "+" else int(a) - int(b)


def test_labels_match_the_arithmetic():
    tagged = make_tagged_records(30, seed=0)
    assert len(tagged) == 30 * 8
    for t in tagged:
        r = t.record
        assert r.outcome == float(t.kind == "correct")
        if "*" in r.prompt:
            continue
        answers = boxed(r.response)
        assert r.reference == str(gold(r.prompt))  # the gold answer a reference-aware RM reads
        if t.kind == "correct":
            assert answers == [str(gold(r.prompt))]
        elif t.kind in ("slip", "hedge"):
            assert len(answers) == 1 and answers[0] != str(gold(r.prompt))
        else:  # rambling, unanswered
            assert answers == []


def test_groups_are_mixed_and_splits_share_no_problem():
    a, b = make_tagged_records(40, seed=0), make_tagged_records(40, seed=0, split="heldout")
    assert not {t.record.prompt for t in a} & {t.record.prompt for t in b}
    assert len({t.record.prompt for t in a}) == 40  # distinct problems
    for group in {t.record.group for t in a}:
        outcomes = [t.record.outcome for t in a if t.record.group == group]
        assert 2 <= sum(outcomes) <= 6
