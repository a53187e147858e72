"""Monte-Carlo step labels (Math-Shepherd, arXiv 2312.08935) for steps no rule can check: DeepSeekMath §4.1.3
process supervision without a rule checker.

A step is good when the policy can still reach the right answer from it. The response is cut after the step
(a newline appended: the steps are lines), m continuations are sampled from that prefix, and each full text
(prefix + continuation) is verified against the gold:
    soft = correct / m                     the estimated chance of finishing correctly from this step
    hard = 1.0 if correct > 0 else 0.0     at least one continuation gets there
The last step costs nothing when the completion's own verified outcome is given: the completion is itself a
rollout from that prefix, so its label is the outcome (one rollout).

Budget: only `ceil(share * n)` of the n completions that have steps are labelled, drawn with a seeded RNG;
the others get None. A labelled completion of S steps costs m * (S - 1) continuations (m * S without
outcomes), all of them sampled in one batched call.

    labels = monte_carlo_step_labels(items, responses, [segment(r) for r in responses],
                                     policy_continue_fn(model, tokenizer, sampling, seed=step),
                                     rule_verify_fn(timeout=5.0), m=4, share=0.25, seed=step,
                                     outcomes=[o.correct for o in outcomes])
    labels[i]    # None (not chosen), or one MCLabel (None if no continuation could be judged) per step
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from orchestration.rewards import verify
from orchestration.tasks import TaskItem
from policy.sampling import SamplingConfig, chat_prompts, sample_continuations
from verifiers.steps import Step

# continue_fn(items, prefixes, m) -> m continuations per prefix, row-major (prefix 0's m first);
# items[j] is the task of prefixes[j].
ContinueFn = Callable[[list[TaskItem], list[str], int], list[str]]
# verify_fn(items, texts) -> per text: correct, or None when it could not be judged (a broken verifier).
VerifyFn = Callable[[list[TaskItem], list[str]], list[bool | None]]


@dataclass(frozen=True)
class MCLabel:
    hard: float  # 1.0 when at least one rollout from the step reaches a verified-correct answer, else 0.0
    soft: float  # the fraction that does, in [0, 1]
    correct: int  # rollouts verified correct
    rollouts: int  # rollouts judged (continuations, or 1 for a last step labelled by its own outcome)


def _label(verdicts: list[bool | None]) -> MCLabel | None:
    """The label from the verdicts of one step's rollouts; None when none of them could be judged."""
    judged = [bool(v) for v in verdicts if v is not None]
    if not judged:
        return None
    correct = sum(judged)
    return MCLabel(hard=float(correct > 0), soft=correct / len(judged), correct=correct, rollouts=len(judged))


def choose_completions(steps: list[list[Step]], share: float, seed: int) -> list[int]:
    """Indices, ascending, of the completions to label: ceil(share * n) of the n that have steps, drawn
    uniformly with `random.Random(seed)`."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    candidates = [i for i, s in enumerate(steps) if s]
    count = math.ceil(round(share * len(candidates), 9))  # round: 0.3 * 10 is 3.0000000000000004, not 4
    return sorted(random.Random(seed).sample(candidates, count))


def monte_carlo_step_labels(
    items: list[TaskItem],
    responses: list[str],
    steps: list[list[Step]],
    continue_fn: ContinueFn,
    verify_fn: VerifyFn,
    m: int,
    share: float,
    seed: int,
    outcomes: list[bool | None] | None = None,
) -> list[list[MCLabel | None] | None]:
    """One entry per completion: None when it was not chosen (see `choose_completions`), else one label per
    step of `steps[i]` (spans of `responses[i]`; [] when it has none). `outcomes[i]`, when given, is
    completion i's own verified outcome (None: not judged) and labels its last step without sampling."""
    if not len(items) == len(responses) == len(steps) or (outcomes is not None and len(outcomes) != len(items)):
        raise ValueError(
            f"one item, response, step list and outcome per completion: got {len(items)} items, "
            f"{len(responses)} responses, {len(steps)} step lists"
            + (f", {len(outcomes)} outcomes" if outcomes is not None else "")
        )
    if m < 1:
        raise ValueError(f"m (continuations per step) must be >= 1, got {m}")
    chosen = choose_completions(steps, share, seed)
    skip_last = outcomes is not None  # the last step's label is then the outcome: nothing to sample
    jobs = [(i, k) for i in chosen for k in range(len(steps[i]) - skip_last)]  # (completion, step) to continue
    job_items = [items[i] for i, _ in jobs]
    prefixes = [responses[i][: steps[i][k].end] + "\n" for i, k in jobs]
    continuations = continue_fn(job_items, prefixes, m) if jobs else []
    if len(continuations) != m * len(jobs):
        raise ValueError(
            f"continue_fn returned {len(continuations)} continuations for {len(jobs)} prefixes "
            f"x m={m}; it must return m per prefix"
        )
    texts = [prefixes[j // m] + continuation for j, continuation in enumerate(continuations)]
    verdicts = verify_fn([item for item in job_items for _ in range(m)], texts) if jobs else []
    labels: list[list[MCLabel | None] | None] = [[] if not s else None for s in steps]
    for i in chosen:
        labels[i] = [None] * len(steps[i])
        if outcomes is not None:
            labels[i][-1] = _label([outcomes[i]])
    for j, (i, k) in enumerate(jobs):
        labels[i][k] = _label(verdicts[j * m : (j + 1) * m])
    return labels


def policy_continue_fn(
    model, tokenizer, sampling_cfg: SamplingConfig, seed: int | None, chat: bool = True
) -> ContinueFn:
    """A `continue_fn` sampling from `model` (unwrapped, as for `sample_groups`) in one batched call. The
    continuations must see the prompt the completions saw: `chat` wraps a plain-text prompt as a user
    message when the tokenizer has a chat template, as the loop does (`policy.use_chat_template`). Every call
    uses `seed`: make one per step, with that step's seed."""

    def continue_fn(items: list[TaskItem], prefixes: list[str], m: int) -> list[str]:
        prompts = chat_prompts(tokenizer, [item.prompt for item in items], chat)
        return sample_continuations(model, tokenizer, prompts, prefixes, m, sampling_cfg, seed=seed).texts

    return continue_fn


def rule_verify_fn(timeout: float) -> VerifyFn:
    """A `verify_fn` from the rule verifiers (`orchestration.rewards.verify`): None where a verifier broke or
    the task has no gold. Continuations are judged as possibly cut at the token limit (the stricter reading)."""

    def verify_fn(items: list[TaskItem], texts: list[str]) -> list[bool | None]:
        return [o.correct if o.has_label else None for o in verify(items, texts, timeout=timeout)]

    return verify_fn
