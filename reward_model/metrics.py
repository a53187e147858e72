"""Pure ranking and calibration metrics for reward models: lists or tensors in, numbers out.

The online loop's held-out monitor calls these on every policy step, so they are plain functions with no
model, config or I/O, and cost O(sum of squared group sizes).

    ranking_accuracy(scores, outcomes, groups) -> (accuracy, n_pairs)   within-group pairs, ties = 1/2
    pair_indices(outcomes, groups)             -> (better, worse)        the pairs those are built from
    pairwise_accuracy(better_scores, worse_scores) -> (accuracy, n_pairs)
    pairwise_accuracy_interval(better_scores, worse_scores, pair_groups) -> (low, high)   bootstrap over groups
    step_ranking_accuracy(step_scores, step_labels, groups) -> (accuracy, n_pairs)   good vs bad steps
    labelled_steps(step_scores, step_labels, groups) -> (scores, labels, groups)   the steps those rank, flat
    auc(scores, outcomes)                      -> ROC AUC (scikit-learn), NaN with a single class
    expected_calibration_error(probabilities, labels, n_bins=10)
    reward_stats(scores)                       -> {"mean", "std", "min", "max"}
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import torch

ArrayLike = Sequence[float] | np.ndarray | torch.Tensor


def _numpy(values: ArrayLike) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float64).numpy().reshape(-1)
    return np.asarray(values, dtype=np.float64).reshape(-1)


def pair_indices(outcomes: ArrayLike, groups: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Every within-group pair whose outcomes differ, as index arrays `(better, worse)`, each `(P,)`.

    outcomes: (N,) verified outcomes (1/0 or a score); groups: N keys, pairs never cross groups.
    A group of g items with c correct and g - c wrong gives c * (g - c) pairs when outcomes are binary.
    """
    outcomes = _numpy(outcomes)
    if len(groups) != len(outcomes):
        raise ValueError(f"{len(outcomes)} outcomes but {len(groups)} groups")
    members: dict[Hashable, list[int]] = {}
    for i, key in enumerate(groups):
        members.setdefault(key, []).append(i)
    better, worse = [], []
    for idx in members.values():
        if len(idx) < 2:
            continue
        idx = np.asarray(idx)
        o = outcomes[idx]
        b, w = np.nonzero(o[:, None] > o[None, :])  # b beats w
        better.append(idx[b])
        worse.append(idx[w])
    if not better:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(better).astype(np.int64), np.concatenate(worse).astype(np.int64)


def pairwise_accuracy(better_scores: ArrayLike, worse_scores: ArrayLike) -> tuple[float, int]:
    """Share of pairs the scores order correctly; an exact tie counts 1/2 (a coin flip would pick right
    half the time), so a constant scorer gets exactly 0.5 rather than 0 or 1. NaN when there are no pairs.

    better_scores, worse_scores: (P,).
    """
    b, w = _numpy(better_scores), _numpy(worse_scores)
    if len(b) != len(w):
        raise ValueError(f"{len(b)} better scores but {len(w)} worse scores")
    if len(b) == 0:
        return float("nan"), 0
    return float(np.mean((b > w) + 0.5 * (b == w))), len(b)


def pairwise_accuracy_interval(
    better_scores: ArrayLike,
    worse_scores: ArrayLike,
    pair_groups: Sequence[Hashable],
    level: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile bootstrap interval of `pairwise_accuracy`, resampling whole groups (prompts), since the pairs
    of one group share its responses and are not independent; clipped to [0, 1]. NaN, NaN without pairs.

    better_scores, worse_scores: (P,); pair_groups: the group of each pair.
    """
    b, w = _numpy(better_scores), _numpy(worse_scores)
    if len(b) != len(w) or len(b) != len(pair_groups):
        raise ValueError(f"{len(b)} better scores, {len(w)} worse scores and {len(pair_groups)} pair groups")
    if len(b) == 0:
        return math.nan, math.nan
    right = (b > w) + 0.5 * (b == w)
    keys = {key: i for i, key in enumerate(dict.fromkeys(pair_groups))}
    index = np.asarray([keys[g] for g in pair_groups])
    correct, count = np.bincount(index, right, len(keys)), np.bincount(index, minlength=len(keys))
    draws = np.random.default_rng(seed).integers(0, len(keys), size=(n_resamples, len(keys)))
    accuracies = correct[draws].sum(axis=1) / count[draws].sum(axis=1)
    low, high = np.quantile(accuracies, [(1 - level) / 2, (1 + level) / 2])
    return float(np.clip(low, 0.0, 1.0)), float(np.clip(high, 0.0, 1.0))


def ranking_accuracy(scores: ArrayLike, outcomes: ArrayLike, groups: Sequence[Hashable]) -> tuple[float, int]:
    """Within-group pairwise ranking accuracy of `scores` against `outcomes` (ties = 1/2), and the pair count.

    scores, outcomes: (N,); groups: N keys (e.g. the prompt, or one GRPO group). Only pairs in one group
    with different outcomes count: that is exactly the comparison GRPO's group-normalised advantage makes.
    """
    scores = _numpy(scores)
    if len(scores) != len(_numpy(outcomes)):
        raise ValueError(f"{len(scores)} scores but {len(_numpy(outcomes))} outcomes")
    better, worse = pair_indices(outcomes, groups)
    return pairwise_accuracy(scores[better], scores[worse])


def labelled_steps(
    step_scores: Sequence[ArrayLike], step_labels: Sequence[Sequence[float | None]], groups: Sequence[Hashable]
) -> tuple[list[float], list[float], list[Hashable]]:
    """Every step with a label and a score, flattened: (scores, labels, each step's response's group).
    Unlabelled steps (None) and unscored ones (NaN) are left out. step_scores[i], step_labels[i]: response i's
    steps; groups: one key per response."""
    if not len(step_scores) == len(step_labels) == len(groups):
        raise ValueError(f"{len(step_scores)} score lists, {len(step_labels)} label lists and {len(groups)} groups")
    flat_scores, flat_labels, flat_groups = [], [], []
    for i, (scores, labels, group) in enumerate(zip(step_scores, step_labels, groups)):
        scores = _numpy(scores)
        if len(scores) != len(labels):
            raise ValueError(f"response {i}: {len(scores)} step scores but {len(labels)} labels")
        for s, label in zip(scores, labels):
            if label is not None and not math.isnan(s):
                flat_scores.append(float(s))
                flat_labels.append(label)
                flat_groups.append(group)
    return flat_scores, flat_labels, flat_groups


def step_ranking_accuracy(
    step_scores: Sequence[ArrayLike], step_labels: Sequence[Sequence[float | None]], groups: Sequence[Hashable]
) -> tuple[float, int]:
    """Ranking accuracy over pairs of steps (a better-labelled step against a worse-labelled one) of responses in
    the same group, within a response or across them, over the `labelled_steps`."""
    return ranking_accuracy(*labelled_steps(step_scores, step_labels, groups))


def auc(scores: ArrayLike, outcomes: ArrayLike, threshold: float = 0.5) -> float:
    """ROC AUC of `scores` against `outcomes >= threshold` over the whole set (across groups, so it also
    asks whether scores are comparable between prompts). NaN when only one class is present.

    scores, outcomes: (N,).
    """
    from sklearn.metrics import roc_auc_score

    scores, labels = _numpy(scores), _numpy(outcomes) >= threshold
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores but {len(labels)} outcomes")
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, scores))


def expected_calibration_error(probabilities: ArrayLike, labels: ArrayLike, n_bins: int = 10) -> float:
    """ECE = sum over equal-width probability bins b of |B_b|/N * |mean(label in b) - mean(prob in b)|.

    probabilities: (N,) in [0, 1] (for a `bce` RM, sigmoid of the score); labels: (N,) in {0, 1}.
    Bins are [0, 1/n), ..., [(n-1)/n, 1]; the last bin includes 1.
    """
    p, y = _numpy(probabilities), _numpy(labels)
    if len(p) != len(y):
        raise ValueError(f"{len(p)} probabilities but {len(y)} labels")
    if len(p) == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    error = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        error += in_bin.mean() * abs(y[in_bin].mean() - p[in_bin].mean())
    return float(error)


def reward_stats(scores: ArrayLike) -> dict[str, float]:
    """Mean, (population) std, min and max of the scores; NaN for an empty set."""
    s = _numpy(scores)
    if len(s) == 0:
        return {k: math.nan for k in ("mean", "std", "min", "max")}
    return {"mean": float(s.mean()), "std": float(s.std()), "min": float(s.min()), "max": float(s.max())}
