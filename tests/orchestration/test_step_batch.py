"""StepBatch: refill rounds join field by field and curation picks whole groups, every field alike."""

import dataclasses

import torch

from orchestration.step_batch import RMScores, StepBatch
from policy.sampling import Rollouts
from verifiers import Outcome
from verifiers.steps import LabelledStep

K = 2  # completions per group


def _batch(tag: str, groups: int, *, scored: bool = True, steps: bool = True) -> StepBatch:
    n = groups * K
    rows = [f"{tag}{i}" for i in range(n)]
    values = torch.arange(n, dtype=torch.float32) + (100 if tag == "b" else 0)
    rollouts = Rollouts(
        prompt_ids=torch.ones(n, 2, dtype=torch.long),
        prompt_mask=torch.ones(n, 2, dtype=torch.long),
        completion_ids=values.long()[:, None],
        completion_mask=torch.ones(n, 1, dtype=torch.long),
        texts=rows,
        truncated=torch.zeros(n, dtype=torch.bool),
        group_size=K,
    )
    step_rows = [[LabelledStep(0, 1, float(i % 2))] for i in range(n)] if steps else None
    step_values = [torch.tensor([v]) for v in values.tolist()] if scored and steps else None
    return StepBatch(
        items=rows,
        rollouts=rollouts,
        outcomes=[Outcome(True, 1.0, r) for r in rows],
        prompts=rows,
        groups=[f"{tag}{i // K}" for i in range(n)],
        scores=RMScores(values if scored else None, values + 0.5 if scored else None),
        rewards=values,
        terms={"verifier": values * 2},
        verifier_errors=(1, n),
        steps=step_rows,
        step_scores=RMScores(step_values, None),
    )


def test_concat_joins_every_field_in_order():
    a, b = _batch("a", 1), _batch("b", 2)
    joined = StepBatch.concat([a, b], pad_id=0)
    assert joined.items == a.items + b.items and joined.rollouts.texts == a.rollouts.texts + b.rollouts.texts
    assert torch.equal(joined.rewards, torch.cat([a.rewards, b.rewards]))
    assert torch.equal(joined.scores.live, torch.cat([a.scores.live, b.scores.live]))
    assert torch.equal(joined.scores.frozen, torch.cat([a.scores.frozen, b.scores.frozen]))
    assert torch.equal(joined.terms["verifier"], torch.cat([a.terms["verifier"], b.terms["verifier"]]))
    assert joined.verifier_errors == (2, 6)
    assert joined.steps == a.steps + b.steps
    assert [t.item() for t in joined.step_scores.live] == [0.0, 1.0, 100.0, 101.0, 102.0, 103.0]
    assert joined.step_scores.frozen is None
    # Every field of the dataclass took part (a new field without a layout would fail to construct).
    assert {f.name for f in dataclasses.fields(joined)} == {f.name for f in dataclasses.fields(a)}


def test_a_part_without_rm_scores_leaves_the_whole_without_them():
    joined = StepBatch.concat([_batch("a", 1, scored=False), _batch("b", 1)], pad_id=0)
    assert joined.scores == RMScores(None, None) and joined.step_scores.live is None


def test_select_groups_picks_whole_groups_of_every_field():
    batch = StepBatch.concat([_batch("a", 1), _batch("b", 2)], pad_id=0)
    picked = batch.select_groups([2, 0])
    assert picked.items == ["b2", "b3", "a0", "a1"] and picked.rollouts.texts == picked.items
    assert picked.groups == ["b1", "b1", "a0", "a0"]
    assert picked.rewards.tolist() == [102.0, 103.0, 0.0, 1.0]
    assert picked.scores.live.tolist() == [102.0, 103.0, 0.0, 1.0]
    assert picked.scores.frozen.tolist() == [102.5, 103.5, 0.5, 1.5]
    assert picked.terms["verifier"].tolist() == [204.0, 206.0, 0.0, 2.0]
    assert [s[0].label for s in picked.steps] == [0.0, 1.0, 0.0, 1.0]
    assert [t.item() for t in picked.step_scores.live] == [102.0, 103.0, 0.0, 1.0]
    assert picked.verifier_errors == batch.verifier_errors  # counted over the whole step


def test_rm_scores_of_a_reward_source():
    scores = RMScores("live", "frozen")
    assert (scores.of("live"), scores.of("frozen"), scores.of(None)) == ("live", "frozen", None)
