"""Reward-model losses against hand-derived values and a naive per-pair loop."""

import math

import pytest
import torch
import torch.nn.functional as F

from reward_model.losses import bce_loss, bradley_terry_loss, compute_loss, mse_loss, to_unit_scale, within_group_pairs


def naive_bradley_terry(scores, outcomes, groups, margin):
    terms = [
        -math.log(1 / (1 + math.exp(-(scores[i] - scores[j] - margin))))
        for i in range(len(scores))
        for j in range(len(scores))
        if groups[i] == groups[j] and outcomes[i] > outcomes[j]
    ]
    return sum(terms) / len(terms)


def test_bradley_terry_equal_scores_is_log2():
    scores = torch.zeros(4)
    loss, metrics = bradley_terry_loss(scores, torch.tensor([1.0, 0.0, 1.0, 0.0]), torch.tensor([0, 0, 1, 1]))
    assert loss.item() == pytest.approx(math.log(2))
    assert metrics["pairs"] == 2 and metrics["pair_accuracy"] == 0.5  # ties count half


def test_bradley_terry_hand_computed_with_margin_and_groups():
    # Only (0 beats 1) is a pair: index 2 is alone in group 1. diff = 2 - 0 = 2.
    scores, outcomes, groups = torch.tensor([2.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0, 0, 1])
    loss, _ = bradley_terry_loss(scores, outcomes, groups)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-2.0)))  # -logsigmoid(2) = 0.126928
    loss, _ = bradley_terry_loss(scores, outcomes, groups, margin=1.0)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1.0)))  # -logsigmoid(2 - 1) = 0.313262


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bradley_terry_matches_naive_loop(dtype):
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(24, generator=gen, dtype=dtype)
    outcomes = torch.randint(0, 3, (24,), generator=gen).to(dtype) / 2  # 0, 0.5, 1: soft scores form pairs too
    groups = torch.randint(0, 4, (24,), generator=gen)
    loss, _ = bradley_terry_loss(scores, outcomes, groups, margin=0.3)
    expected = naive_bradley_terry(scores.tolist(), outcomes.tolist(), groups.tolist(), 0.3)
    torch.testing.assert_close(loss, torch.tensor(expected, dtype=dtype))


def test_bradley_terry_gradient_pushes_better_up():
    # d/d r_b of -logsigmoid(r_b - r_w) = -sigmoid(r_w - r_b) = -1/2 at equal scores
    scores = torch.zeros(2, requires_grad=True)
    loss, _ = bradley_terry_loss(scores, torch.tensor([1.0, 0.0]), torch.tensor([0, 0]))
    loss.backward()
    torch.testing.assert_close(scores.grad, torch.tensor([-0.5, 0.5]))


def test_bradley_terry_without_pairs_is_zero_but_differentiable():
    scores = torch.tensor([1.0, 2.0], requires_grad=True)
    loss, metrics = bradley_terry_loss(scores, torch.tensor([1.0, 1.0]), torch.tensor([0, 0]))
    loss.backward()
    assert loss.item() == 0.0 and metrics["pairs"] == 0
    torch.testing.assert_close(scores.grad, torch.zeros(2))


def test_within_group_pairs_hand_example():
    better, worse = within_group_pairs(torch.tensor([1.0, 0.0, 1.0, 0.0]), torch.tensor([0, 0, 0, 1]))
    assert sorted(zip(better.tolist(), worse.tolist())) == [(0, 1), (2, 1)]


def test_mse_maps_outcomes_to_plus_minus_one():
    # targets: 1 -> +1, 0 -> -1, 0.5 -> 0; errors 0.5^2, 0.5^2, 1^2 -> mean 0.5
    loss, _ = mse_loss(torch.tensor([0.5, -0.5, 1.0]), torch.tensor([1.0, 0.0, 0.5]))
    assert loss.item() == pytest.approx(0.5)


def test_bce_hand_computed():
    # score 0, outcome 1: log 2; score 2, outcome 0: log(1 + e^2) = 2.126928
    loss, _ = bce_loss(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0]))
    assert loss.item() == pytest.approx((math.log(2) + math.log(1 + math.exp(2))) / 2)
    soft, _ = bce_loss(torch.tensor([0.7]), torch.tensor([0.3]))
    torch.testing.assert_close(soft, F.binary_cross_entropy(torch.sigmoid(torch.tensor([0.7])), torch.tensor([0.3])))


def test_compute_loss_dispatch_and_unknown_name():
    scores, outcomes, groups = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.0]), torch.tensor([0, 0])
    assert compute_loss("bce", scores, outcomes, groups)[0] == bce_loss(scores, outcomes)[0]
    assert (
        compute_loss("bradley_terry", scores, outcomes, groups, 0.5)[0]
        == bradley_terry_loss(scores, outcomes, groups, 0.5)[0]
    )
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        compute_loss("hinge", scores, outcomes, groups)


def test_to_unit_scale_hand_computed():
    scores = torch.tensor([0.0, math.log(3.0), -math.log(3.0), 1.0, -3.0, 2.0])
    # bce: sigmoid(log 3) = 3 / (1 + 3) = 0.75; sigmoid(0) = 0.5
    torch.testing.assert_close(to_unit_scale(scores[:3], "bce"), torch.tensor([0.5, 0.75, 0.25]))
    torch.testing.assert_close(to_unit_scale(scores[:3], "bradley_terry"), torch.tensor([0.5, 0.75, 0.25]))
    # mse regressed 2 * outcome - 1, so outcome = (score + 1) / 2: 0 -> 0.5, 1 -> 1, -3 -> -1 -> 0, 2 -> 1.5 -> 1
    torch.testing.assert_close(to_unit_scale(scores[[0, 3, 4, 5]], "mse"), torch.tensor([0.5, 1.0, 0.0, 1.0]))
    assert to_unit_scale(torch.tensor([1e4, -1e4]), "bce").tolist() == [1.0, 0.0]  # finite at the extremes
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        to_unit_scale(scores, "hinge")


@pytest.mark.parametrize("loss", ["bce", "mse", "bradley_terry"])
def test_to_unit_scale_keeps_the_ranking(loss):
    scores = torch.tensor([-0.7, 0.2, -0.1, 0.9])
    assert torch.argsort(to_unit_scale(scores, loss)).tolist() == torch.argsort(scores).tolist()
