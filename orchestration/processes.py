"""What the loop's data-parallel processes decide and measure together (`accelerate`): each process samples its own
prompts; these helpers turn per-process values into the ones every process (and the log) shares. With one process
each is the identity, without a collective."""

from __future__ import annotations

import torch
from accelerate.utils import gather_object

from orchestration.metrics import nan_safe_mean
from orchestration.rewards import rm_monitor, step_monitor


def flags(accelerator, flag) -> torch.Tensor:
    """This process's boolean `flag` beside every other process's (P,): decisions all processes share."""
    value = torch.tensor([bool(flag)], device=accelerator.device)
    return accelerator.gather(value) if accelerator.num_processes > 1 else value


def gathered(accelerator, values: list) -> list:
    """Every process's `values`, joined in process order."""
    return gather_object(values) if accelerator.num_processes > 1 else values


def mean_over_processes(accelerator, metrics: dict[str, float]) -> dict[str, float]:
    """Each process measured its own prompts; the logged figure is the mean over processes (NaN-safe)."""
    if accelerator.num_processes == 1:
        return metrics
    everyone = gather_object([metrics])
    keys = dict.fromkeys(key for m in everyone for key in m)
    return {key: nan_safe_mean(m.get(key) for m in everyone) for key in keys}


def gathered_monitor(accelerator, prefix: str, scores, outcomes, groups) -> dict[str, float]:
    """The RM's held-out ranking figures (`rewards.rm_monitor`) over every process's batch; {} without scores."""
    if scores is None:
        return {}
    if accelerator.num_processes > 1:
        scores = torch.tensor(gather_object(scores.tolist()))
    return rm_monitor(scores, gathered(accelerator, outcomes), gathered(accelerator, groups), prefix=prefix)


def gathered_step_monitor(accelerator, prefix: str, step_scores, labels, groups) -> dict[str, float]:
    """The step RM's held-out figures (`rewards.step_monitor`) over every process's batch; {} without scores."""
    if step_scores is None:
        return {}
    step_scores = gathered(accelerator, [s.tolist() for s in step_scores])
    return step_monitor(step_scores, gathered(accelerator, labels), gathered(accelerator, groups), prefix=prefix)
