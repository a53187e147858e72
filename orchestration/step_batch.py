"""`StepBatch`: one policy step's completions and what the loop made of them (outcomes, RM scores, rewards,
reward terms, and for process supervision the steps and their scores), per completion and group-contiguous;
refill rounds are concatenated and curation selects whole groups."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from orchestration.tasks import TaskItem
from policy.sampling import Rollouts, concat_rollouts
from verifiers import Outcome
from verifiers.steps import LabelledStep, StepOutcome


@dataclass
class StepBatch:
    """One step's completions and what the loop made of them; per completion, group-contiguous."""

    items: list[TaskItem]
    rollouts: Rollouts
    outcomes: list[Outcome]
    prompts: list[str]  # as the RM reads them
    groups: list[str]
    scores: torch.Tensor | None  # the live RM's [0, 1] scores, None before its first version
    frozen_scores: torch.Tensor | None
    rewards: torch.Tensor
    terms: dict[str, torch.Tensor]  # each reward term's values before its weight
    verifier_errors: tuple[int, int]  # (broken verifications, judged outcomes) over every process
    steps: list[list[StepOutcome | LabelledStep]] | None = None  # process supervision: each completion's steps
    step_scores: list[torch.Tensor] | None = None  # process supervision: the live step RM's [0, 1] step scores
    frozen_step_scores: list[torch.Tensor] | None = None

    @property
    def step_labels(self) -> list[list[float | None]]:
        """Process supervision: each completion's step labels (1/0, soft, or None)."""
        return [[s.label for s in steps] for steps in self.steps]

    @staticmethod
    def concat(parts: list[StepBatch], pad_id: int) -> StepBatch:
        def cat(tensors):
            return None if any(t is None for t in tensors) else torch.cat(tensors)

        def join(name):
            lists = [getattr(p, name) for p in parts]
            return None if any(x is None for x in lists) else [x for values in lists for x in values]

        return StepBatch(
            [x for p in parts for x in p.items], concat_rollouts([p.rollouts for p in parts], pad_id),
            [x for p in parts for x in p.outcomes], [x for p in parts for x in p.prompts],
            [x for p in parts for x in p.groups], cat([p.scores for p in parts]),
            cat([p.frozen_scores for p in parts]), torch.cat([p.rewards for p in parts]),
            {name: torch.cat([p.terms[name] for p in parts]) for name in parts[0].terms},
            (sum(p.verifier_errors[0] for p in parts), sum(p.verifier_errors[1] for p in parts)),
            join("steps"), join("step_scores"), join("frozen_step_scores"))

    def select_groups(self, groups: list[int]) -> StepBatch:
        k = self.rollouts.group_size
        rows = [g * k + j for g in groups for j in range(k)]
        index = torch.tensor(rows, dtype=torch.long)

        def pick(values):
            return None if values is None else values[index]

        def rows_of(values):
            return None if values is None else [values[i] for i in rows]

        return StepBatch(
            rows_of(self.items), self.rollouts.select(index), rows_of(self.outcomes), rows_of(self.prompts),
            rows_of(self.groups), pick(self.scores), pick(self.frozen_scores), self.rewards[index],
            {name: v[index] for name, v in self.terms.items()}, self.verifier_errors, rows_of(self.steps),
            rows_of(self.step_scores), rows_of(self.frozen_step_scores))
