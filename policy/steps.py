"""Reasoning steps on completion tokens: the (N, T) tensors `policy.grpo.process_advantages` takes.

A step (`verifiers.steps.Step`, a character span of the decoded completion) ends at the completion token that
holds its last character: the first token t with len(decode(ids[:t + 1])) >= step.end. The decoding is the one
the rollouts' texts came from (`skip_special_tokens=True`), so the spans and the tokens agree exactly; a
character split across tokens (byte-level BPE) belongs to the token that completes it. Two steps ending on one
token (a token that spans a step boundary) keep the later step's reward there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:  # any object with `end` (a character offset) is a step here; policy does not import verifiers
    from verifiers.steps import Step


def token_step_ends(tokenizer, completion_ids: list[int], steps: list[Step]) -> list[int]:
    """For each step, the index of the completion token that completes its last character."""
    if not steps:
        return []
    text = tokenizer.decode(completion_ids, skip_special_tokens=True)
    prefixes: list[str] = []  # prefixes[t] = decode(ids[:t + 1])
    ends, t = [], 0
    for step in steps:
        while True:
            if t >= len(completion_ids):
                raise ValueError(
                    f"step ending at character {step.end} lies beyond the completion's "
                    f"{len(completion_ids)} tokens ({len(text)} characters)"
                )
            while len(prefixes) <= t:
                prefixes.append(tokenizer.decode(completion_ids[: len(prefixes) + 1], skip_special_tokens=True))
            # complete up to the step's end: as long, and the same text (a half-decoded character is not)
            if prefixes[t][: step.end] == text[: step.end] and len(prefixes[t]) >= step.end:
                break
            t += 1
        ends.append(t)
    return ends


def step_tensors(
    tokenizer,
    completion_ids: Tensor,
    completion_mask: Tensor,
    steps: list[list[Step]],
    rewards: list[list[float | None]],
) -> tuple[Tensor, Tensor]:
    """(step_rewards, step_ends), both (N, T) over the completion tokens. `steps[i]` are completion i's steps and
    `rewards[i]` their rewards; a step whose reward is None (no label) is not a step end, so its tokens are
    credited by the steps after it."""
    n, length = completion_ids.shape
    step_rewards = torch.zeros(n, length, dtype=torch.float32)
    step_ends = torch.zeros(n, length, dtype=torch.bool)
    for i in range(n):
        if len(steps[i]) != len(rewards[i]):
            raise ValueError(f"completion {i}: {len(steps[i])} steps but {len(rewards[i])} rewards")
        ids = completion_ids[i][completion_mask[i].bool()].tolist()
        for t, reward in zip(token_step_ends(tokenizer, ids, steps[i]), rewards[i]):
            if reward is not None:
                step_rewards[i, t], step_ends[i, t] = float(reward), True
    return step_rewards.to(completion_ids.device), step_ends.to(completion_ids.device)
