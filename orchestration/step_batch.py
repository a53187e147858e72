"""`StepBatch`: one policy step's completions and what the loop made of them (outcomes, RM scores, rewards,
reward terms, and for process supervision the steps and their scores), per completion and group-contiguous;
refill rounds are concatenated and curation selects whole groups.

`RMScores(live, frozen)` carries one batch's scores by the live RM and by its frozen first version, for outcome
scores ((N,) tensors) and step scores (one (steps,) tensor per completion) alike.

Each field says how it is laid out (`metadata["layout"]`), and `concat` / `select_groups` are written once over
the layouts, so a new field is one line here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from orchestration.tasks import TaskItem
from policy.sampling import Rollouts, concat_rollouts
from verifiers import Outcome
from verifiers.steps import LabelledStep, StepOutcome


@dataclass(frozen=True)
class RMScores:
    """[0, 1] scores of one batch by the live RM and by its first version, never updated (the frozen control);
    None where that version does not exist yet."""

    live: Any = None  # (N,) tensor for outcome scores; a list of (steps,) tensors for step scores
    frozen: Any = None

    def of(self, version: str | None):
        """The scores of one RM version ("live", "frozen", as `RewardPlan.rm` names it); None for None."""
        return {"live": self.live, "frozen": self.frozen}.get(version)


# How a field is laid out per completion, and so how batches join and how groups are picked.
ROWS, TENSOR, ROLLOUTS, TERMS, COUNTS, SCORES, STEP_SCORES = (
    "rows",
    "tensor",
    "rollouts",
    "terms",
    "counts",
    "scores",
    "step_scores",
)


def _laid_out(layout: str, **kwargs):
    return field(metadata={"layout": layout}, **kwargs)


@dataclass
class StepBatch:
    """One step's completions and what the loop made of them; per completion, group-contiguous."""

    items: list[TaskItem] = _laid_out(ROWS)
    rollouts: Rollouts = _laid_out(ROLLOUTS)
    outcomes: list[Outcome] = _laid_out(ROWS)
    prompts: list[str] = _laid_out(ROWS)  # as the RM reads them
    groups: list[str] = _laid_out(ROWS)
    scores: RMScores = _laid_out(SCORES)  # outcome-level; the step RM's aggregate of its step scores
    rewards: torch.Tensor = _laid_out(TENSOR)
    terms: dict[str, torch.Tensor] = _laid_out(TERMS)  # each reward term's values before its weight
    verifier_errors: tuple[int, int] = _laid_out(COUNTS)  # (broken verifications, judged outcomes), every process
    # process supervision: each completion's steps, and the step RM's score of each
    steps: list[list[StepOutcome | LabelledStep]] | None = _laid_out(ROWS, default=None)
    step_scores: RMScores = _laid_out(STEP_SCORES, default_factory=RMScores)

    @property
    def step_labels(self) -> list[list[float | None]]:
        """Process supervision: each completion's step labels (1/0, soft, or None)."""
        return [[s.label for s in steps] for steps in self.steps]

    @staticmethod
    def concat(parts: list[StepBatch], pad_id: int) -> StepBatch:
        """The completions of `parts`, in order (refill rounds joined into one step's batch)."""
        return StepBatch(
            **{
                f.name: _joined(f.metadata["layout"], [getattr(p, f.name) for p in parts], pad_id)
                for f in dataclasses.fields(StepBatch)
            }
        )

    def select_groups(self, groups: list[int]) -> StepBatch:
        """The completions of the groups numbered `groups`, in that order."""
        k = self.rollouts.group_size
        rows = [g * k + j for g in groups for j in range(k)]
        return StepBatch(
            **{
                f.name: _selected(f.metadata["layout"], getattr(self, f.name), rows)
                for f in dataclasses.fields(StepBatch)
            }
        )


def _joined(layout: str, values: list, pad_id: int):
    if layout == ROLLOUTS:
        return concat_rollouts(values, pad_id)
    if layout == COUNTS:
        return tuple(sum(counts) for counts in zip(*values))
    if layout == TERMS:
        return {name: torch.cat([v[name] for v in values]) for name in values[0]}
    if layout in (SCORES, STEP_SCORES):
        return RMScores(
            *(
                _joined(TENSOR if layout == SCORES else ROWS, [getattr(v, side) for v in values], pad_id)
                for side in ("live", "frozen")
            )
        )
    if any(v is None for v in values):  # a part without them (e.g. no RM yet): the whole has none
        return None
    return torch.cat(values) if layout == TENSOR else [x for v in values for x in v]


def _selected(layout: str, value, rows: list[int]):
    if layout == COUNTS:
        return value  # counted over the whole step, curated or not
    if layout in (SCORES, STEP_SCORES):
        inner = TENSOR if layout == SCORES else ROWS
        return RMScores(_selected(inner, value.live, rows), _selected(inner, value.frozen, rows))
    if value is None:
        return None
    index = torch.tensor(rows, dtype=torch.long)
    if layout == ROLLOUTS:
        return value.select(index)
    if layout == TERMS:
        return {name: v[index] for name, v in value.items()}
    return value[index] if layout == TENSOR else [value[i] for i in rows]
