"""Process supervision's step labels and step rewards (DeepSeekMath §4.1.3), for `OnlineTrainer`:

- `rule_step_labels`: each math completion's steps judged by the rule checker (`verifiers.math.check_steps`), a
  true step that only repeats earlier claims labelled 0 (and with `path`, one that computes none of the task's
  solution values: `loop.path_labels`), the last step carrying the verified outcome;
- `monte_carlo_step_labels`: labels from the behaviour policy's continuations (Math-Shepherd; `mc_labels`);
- `paid_step_rewards`: what each step is finally paid, whatever rewarded it (labels or a step RM's scores), after
  the progress rules (`verifiers.steps.progress_rewards`: repeats earn nothing, the rewarded steps are bounded),
  and what the rules did (`process/*` metrics).
"""

from __future__ import annotations

import math
from dataclasses import replace

from orchestration import mc_labels
from orchestration.tasks import TaskItem
from verifiers import Outcome
from verifiers import steps as verifier_steps
from verifiers.math import check_steps
from verifiers.steps import LabelledStep, StepOutcome, mark_repeats, progress_rewards, repeated_claims


def rule_step_labels(
    items: list[TaskItem], texts: list[str], outcomes: list[Outcome], timeout: float, path: bool = False
) -> list[list[StepOutcome]]:
    """Each math completion's steps judged by the rule checker (the step rule is the task's `meta["steps"]`,
    default one step per line); other tasks have none. The last step carries the completion's outcome, already
    verified (`check_steps` with a gold would verify it again). A true step whose claims all repeat earlier ones
    is labelled 0 (`verifiers.steps.mark_repeats`); with `path`, so is one that computes none of the values in
    the task's `meta["path"]` (`verifiers.steps.mark_off_path`; tasks without a path are left as they are)."""
    judged = []
    for item, text, outcome in zip(items, texts, outcomes):
        steps = (
            check_steps(
                text, mode=item.meta.get("steps", "lines"), substitute=item.meta.get("substitute"), timeout=timeout
            )
            if item.verifier == "math"
            else []
        )
        steps = mark_repeats(steps, text)
        if path and item.meta.get("path"):
            steps = verifier_steps.mark_off_path(steps, text, item.meta["path"])
        if steps:
            steps[-1] = replace(steps[-1], outcome=outcome)
        judged.append(steps)
    return judged


def monte_carlo_step_labels(
    items: list[TaskItem], texts: list[str], outcomes: list[Outcome], model, tokenizer, cfg, seed: int
) -> list[list[LabelledStep]]:
    """Labels by Monte-Carlo rollouts (`orchestration.mc_labels`): `loop.mc_share` of the completions get
    `loop.mc_rollouts` continuations of `model` (the behaviour policy) from each step, hard or soft as
    `loop.step_labels` says; the last step of every completion is labelled by its verified outcome, the other
    steps of the rest get None."""
    spans = [verifier_steps.segment(text, mode=item.meta.get("steps", "lines")) for item, text in zip(items, texts)]
    continue_fn = mc_labels.policy_continue_fn(model, tokenizer, cfg.sampling, seed, chat=cfg.policy.use_chat_template)
    mc = mc_labels.monte_carlo_step_labels(
        items,
        texts,
        spans,
        continue_fn,
        mc_labels.rule_verify_fn(cfg.loop.verifier_timeout),
        m=cfg.loop.mc_rollouts,
        share=cfg.loop.mc_share,
        seed=seed,
        outcomes=[o.correct if o.has_label else None for o in outcomes],
    )
    hard = cfg.loop.step_labels == "mc_hard"
    judged = []
    for steps, labels, outcome in zip(spans, mc, outcomes):
        if labels is None:  # not chosen: only the last step, by the completion's own outcome
            labels = [None] * len(steps)
            if steps and outcome.has_label:
                labels[-1] = float(outcome.correct)
        else:
            labels = [None if x is None else x.hard if hard else x.soft for x in labels]
        judged.append([LabelledStep(s.start, s.end, label) for s, label in zip(steps, labels)])
    return judged


def step_rewards(labels: list[list[float | None]], scores) -> list[list[float | None]]:
    """Each step's reward before the progress rules: its label (rule or Monte-Carlo; `reward_source=verifier`),
    or the step RM's scores when `scores` (the live or frozen RM's, as `reward_source` says) exist (until that RM
    exists, the labels, as the outcome `rm` term warms up on the verifier). None: no reward, so the step's tokens
    are credited by the steps after it (a step the rule cannot judge; one the RM's length limit cut away)."""
    if scores is None:
        return labels
    return [[None if math.isnan(x) else x for x in s.tolist()] for s in scores]


def paid_step_rewards(
    raw: list[list[float | None]],
    steps: list[list],
    texts: list[str],
    items: list[TaskItem],
    max_rewarded_steps: int | None,
) -> tuple[list[list[float | None]], dict[str, float]]:
    """What each step is paid: `raw` with the progress rules applied (a step whose claims all repeat earlier ones
    earns nothing; at most `max_rewarded_steps`, else the task's own bound, keep a positive reward), and the
    `process/*` figures of what the rules did."""
    repeated = [repeated_claims([text[s.start : s.end] for s in row]) for row, text in zip(steps, texts)]
    paid = [
        progress_rewards(
            r, flags, max_rewarded_steps if max_rewarded_steps is not None else item.meta.get("max_rewarded_steps")
        )
        for r, flags, item in zip(raw, repeated, items)
    ]
    return paid, progress_metrics(raw, paid, repeated)


def progress_metrics(
    raw: list[list[float | None]], paid: list[list[float | None]], repeated: list[list[bool]]
) -> dict[str, float]:
    """What process supervision paid for this step: steps per completion that kept a positive reward, the share of
    steps whose claims all repeat earlier ones, and the share whose positive reward the bound withheld."""
    pairs = [(r, p) for raw_row, paid_row in zip(raw, paid) for r, p in zip(raw_row, paid_row)]
    flags = [flag for row in repeated for flag in row]
    steps = len(pairs) or math.nan  # no step anywhere: the shares are unknown
    rewarded = sum(p is not None and p > 0 for _, p in pairs)
    return {
        "process/rewarded_steps_per_completion": rewarded / max(len(paid), 1),
        "process/repeated_steps": sum(flags) / steps,
        "process/withheld_steps": sum(r is not None and r > 0 and p is None for r, p in pairs) / steps,
    }


def step_label_metrics(labels: list[list[float | None]]) -> dict[str, float]:
    """Steps per completion, the share a rule (or the rollouts) labelled, and the share of those labelled good."""
    flat = [label for row in labels for label in row]
    known = [label for label in flat if label is not None]
    return {
        "process/steps_per_completion": len(flat) / len(labels),
        "process/labelled_fraction": len(known) / len(flat) if flat else math.nan,
        "process/step_accuracy": sum(known) / len(known) if known else math.nan,
    }
