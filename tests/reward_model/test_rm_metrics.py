"""Ranking accuracy, AUC, ECE and score statistics against hand-computed values and naive loops."""

import math
import random

import numpy as np
import pytest
import torch

from reward_model.metrics import (
    auc,
    expected_calibration_error,
    pair_indices,
    pairwise_accuracy,
    ranking_accuracy,
    reward_stats,
)


def test_ranking_accuracy_hand_example_with_tie_and_singleton():
    # group a: 0.9 (right) vs 0.1 (wrong) -> 1; group b: 0.5 vs 0.5 -> tie, 1/2; group c: one record, no pair
    acc, n = ranking_accuracy([0.9, 0.1, 0.5, 0.5, 0.2], [1, 0, 1, 0, 1], ["a", "a", "b", "b", "c"])
    assert (acc, n) == (0.75, 2)


def test_ranking_accuracy_matches_naive_loop():
    rng = random.Random(0)
    scores = [rng.choice([0.0, 0.5, 1.0, rng.random()]) for _ in range(60)]  # many exact ties
    outcomes = [rng.choice([0.0, 0.3, 1.0]) for _ in range(60)]
    groups = [rng.randrange(7) for _ in range(60)]
    total = n = 0
    for i in range(60):
        for j in range(60):
            if groups[i] == groups[j] and outcomes[i] > outcomes[j]:
                n += 1
                total += 1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0
    acc, pairs = ranking_accuracy(torch.tensor(scores), outcomes, groups)
    assert pairs == n and acc == pytest.approx(total / n)


def test_ranking_accuracy_without_pairs_is_nan():
    acc, n = ranking_accuracy([1.0, 2.0], [1.0, 1.0], ["g", "g"])
    assert math.isnan(acc) and n == 0


def test_constant_scores_rank_at_one_half():
    assert ranking_accuracy([0.0] * 4, [1, 0, 1, 0], [0, 0, 0, 0]) == (0.5, 4)


def test_pair_indices_counts_correct_times_wrong():
    better, worse = pair_indices([1, 1, 0, 0, 0], ["g"] * 5)
    assert len(better) == 2 * 3 and set(better.tolist()) == {0, 1} and set(worse.tolist()) == {2, 3, 4}


def test_pairwise_accuracy_checks_lengths():
    assert pairwise_accuracy([2.0, 1.0], [1.0, 1.0]) == (0.75, 2)
    with pytest.raises(ValueError, match="2 better scores but 1 worse"):
        pairwise_accuracy([1.0, 2.0], [1.0])


def test_auc_hand_example_and_single_class():
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 positive-negative pairs ordered right -> 0.75
    assert auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert math.isnan(auc([0.1, 0.2], [1, 1]))


def test_expected_calibration_error_hand_examples():
    # one record per bin: (|0-.05| + |1-.15| + |1-.95| + |1-.85|) / 4 = 1.1 / 4
    assert expected_calibration_error([0.05, 0.15, 0.95, 0.85], [0, 1, 1, 1]) == pytest.approx(0.275)
    # both in bin [0, 0.2): |mean label 0.5 - mean prob 0.11| = 0.39
    assert expected_calibration_error([0.1, 0.12], [1, 0], n_bins=5) == pytest.approx(0.39)
    assert expected_calibration_error([1.0, 1.0], [1, 1]) == pytest.approx(0.0)  # p = 1 falls in the last bin


def test_reward_stats():
    stats = reward_stats(torch.tensor([1.0, 3.0]))
    assert stats == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}
    assert all(math.isnan(v) for v in reward_stats(np.zeros(0)).values())
