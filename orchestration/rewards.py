"""From completions to rewards: verification, the held-out RM monitor, and the reward source switch.

    verify(items, responses)             -> one Outcome per completion (never raises)
    verifier_errors(outcomes)            -> how many verifiers broke, and the first reason (`Outcome.is_error`)
    rm_monitor(scores, outcomes, groups) -> RM ranking accuracy / AUC on a batch it has NOT trained on

The per-completion reward is a weighted sum of terms: `orchestration.reward_terms`.
"""

from __future__ import annotations

import math

import torch

from orchestration.tasks import TaskItem
from reward_model.metrics import auc as roc_auc
from reward_model.metrics import labelled_steps, ranking_accuracy
from verifiers import Outcome
from verifiers.outcome import UNLABELLED


def prompt_text(item: TaskItem) -> str:
    """The prompt as the reward model reads it: plain text, or the chat's last user message."""
    if isinstance(item.prompt, str):
        return item.prompt
    users = [m["content"] for m in item.prompt if m["role"] == "user"]
    return users[-1] if users else item.prompt[-1]["content"]


def verify(
    items: list[TaskItem],
    responses: list[str],
    *,
    timeout: float,
    fallback_last_number: bool = True,
    truncated: list[bool] | None = None,
) -> list[Outcome]:
    """`items[i]` is the task of `responses[i]`. Math and code go to their verifiers in one batch each.

    `fallback_last_number`: a math response with no explicit final answer may still be judged by the last
    number its final statement commits to (see `verifiers.math.check`). `truncated[i]`: response i was cut
    at the token limit; the others ended on their own, so a final `3 + 4 = 7` with no full stop counts."""
    truncated = truncated if truncated is not None else [True] * len(responses)
    outcomes: list[Outcome | None] = [
        Outcome(False, 0.0, UNLABELLED) if item.verifier == "none" else None for item in items
    ]
    math_idx = [i for i, item in enumerate(items) if item.verifier == "math"]
    code_idx = [i for i, item in enumerate(items) if item.verifier == "code"]
    if math_idx:
        from verifiers import math as math_verifier

        results = _guarded(
            lambda: math_verifier.check_batch(
                [responses[i] for i in math_idx],
                [items[i].gold for i in math_idx],
                timeout=timeout,
                fallback_last_number=fallback_last_number,
                complete=[not truncated[i] for i in math_idx],
            ),
            len(math_idx),
        )
        for i, outcome in zip(math_idx, results):
            outcomes[i] = outcome
    if code_idx:
        from verifiers import code as code_verifier

        programs = [
            code_verifier.extract_code(responses[i], items[i].code_prompt, entry_point=items[i].entry_point)
            for i in code_idx
        ]
        results = _guarded(
            lambda: code_verifier.check_batch(
                programs, [items[i].tests for i in code_idx], [items[i].entry_point for i in code_idx], timeout=timeout
            ),
            len(code_idx),
        )
        for i, outcome in zip(code_idx, results):
            outcomes[i] = outcome
    return outcomes


def _guarded(run, n: int) -> list[Outcome]:
    """Verifiers never raise on model output; should one break anyway, its outcomes say so (`is_error`)."""
    try:
        return run()
    except Exception as e:  # noqa: BLE001 - a verifier bug must not kill a long run
        return [Outcome(correct=False, score=0.0, reason=f"verifier_error: {type(e).__name__}: {e}")] * n


def verifier_errors(outcomes: list[Outcome]) -> tuple[int, str | None]:
    """(number of outcomes whose verifier broke, the first such reason or None)."""
    errors = [o.reason for o in outcomes if o.is_error]
    return len(errors), errors[0] if errors else None


def rm_monitor(
    scores: torch.Tensor, outcomes: list[Outcome], groups: list[str], prefix: str = "rm"
) -> dict[str, float]:
    """Held-out RM quality on this batch, computed before the RM trains on it.

    Ranking accuracy over within-group pairs whose verified outcomes differ (ties count half), and the
    ROC AUC of score against correctness over the whole batch. NaN when the batch has no such pairs.
    Outcomes without a label (a verifier that broke, an unlabelled prompt) are left out.
    """
    keep = [i for i, o in enumerate(outcomes) if o.has_label]
    scores, outcomes, groups = [float(scores[i]) for i in keep], [outcomes[i] for i in keep], [groups[i] for i in keep]
    if not all(math.isfinite(x) for x in scores):  # a broken RM: its figures are unknown, not a crash
        return {
            f"{prefix}/heldout_ranking_accuracy": math.nan,
            f"{prefix}/heldout_pairs": 0,
            f"{prefix}/heldout_auc": math.nan,
        }
    accuracy, n_pairs = ranking_accuracy(scores, [o.score for o in outcomes], groups)
    return {
        f"{prefix}/heldout_ranking_accuracy": accuracy,
        f"{prefix}/heldout_pairs": n_pairs,
        f"{prefix}/heldout_auc": roc_auc(scores, [float(o.correct) for o in outcomes]),
    }


STEP_POSITIONS = (1, 2, 3, 4)  # per-position figures for these steps of a completion, and one for all later ones


def step_monitor(
    step_scores: list[list[float]], labels: list[list[float | None]], groups: list[str], prefix: str = "prm"
) -> dict[str, float]:
    """Held-out step-RM quality on this batch, before the RM trains on it: ranking accuracy over pairs of a
    good and a bad step (by the rule's labels) of one group's completions, and the ROC AUC of step score
    against label over every labelled step. Steps without a label, or cut away by the RM's length limit (NaN),
    are left out; NaN figures when none is left to compare.

    By step position p (1 to 4, then `5plus` for every later one): `{prefix}/heldout_accuracy_step{p}`, the share
    of labelled steps there on whose side of 0.5 score and label fall alike, and `{prefix}/heldout_score_step{p}`,
    the mean score of every scored step there. An RM that pays for length shows as scores that stay high at late
    positions while its accuracy there falls (late steps of a looping completion are repeats, labelled 0)."""
    scores, flat_labels, flat_groups = labelled_steps(step_scores, labels, groups)
    accuracy, n_pairs = ranking_accuracy(scores, flat_labels, flat_groups)
    metrics = {
        f"{prefix}/heldout_ranking_accuracy": accuracy,
        f"{prefix}/heldout_pairs": n_pairs,
        f"{prefix}/heldout_auc": roc_auc(scores, flat_labels),
        f"{prefix}/heldout_steps": len(scores),
    }
    agree: dict[str, list[float]] = {}
    scored: dict[str, list[float]] = {}
    for row_scores, row_labels in zip(step_scores, labels):
        for position, (score, label) in enumerate(zip(row_scores, row_labels), start=1):
            if math.isnan(score):
                continue
            name = str(position) if position <= STEP_POSITIONS[-1] else f"{STEP_POSITIONS[-1] + 1}plus"
            scored.setdefault(name, []).append(score)
            if label is not None:
                agree.setdefault(name, []).append(float((score >= 0.5) == (label >= 0.5)))
    for name in [str(p) for p in STEP_POSITIONS] + [f"{STEP_POSITIONS[-1] + 1}plus"]:
        metrics[f"{prefix}/heldout_accuracy_step{name}"] = _mean(agree.get(name, []))
        metrics[f"{prefix}/heldout_score_step{name}"] = _mean(scored.get(name, []))
    return metrics


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan
