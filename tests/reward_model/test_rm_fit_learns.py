"""A fit that learns and says so: the hard-negative pairwise loss beside the pointwise one, min_steps, the fit's own
figures against the constant predictor, and the grouped bootstrap interval."""

import math

import pytest
import torch
import torch.nn.functional as F

from reward_model.data import OutcomeRecord, PreferencePair
from reward_model.losses import constant_loss, pair_loss
from reward_model.metrics import pairwise_accuracy_interval
from reward_model.trainer import RMTrainConfig, RMTrainer


def test_pair_loss_by_hand():
    # pair 1: -logsigmoid(2 - 0) = log(1 + e^-2) = 0.126928; pair 2: equal scores, log 2 = 0.693147
    loss, metrics = pair_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0]))
    assert loss.item() == pytest.approx((0.126928 + 0.693147) / 2, abs=1e-6)
    assert metrics["pair_accuracy"] == 0.75 and metrics["pairs"] == 2  # a tie counts 1/2
    # a margin shifts the difference: -logsigmoid(2 - 0 - 2) = log 2
    assert pair_loss(torch.tensor([2.0]), torch.tensor([0.0]), margin=2.0)[0].item() == pytest.approx(math.log(2))


def test_constant_loss_by_hand():
    # bce, one correct of four: the label entropy H(1/4) = -(1/4 ln 1/4 + 3/4 ln 3/4) = 0.562335 nats
    assert constant_loss("bce", torch.tensor([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.562335, abs=1e-6)
    assert constant_loss("bce", torch.tensor([1.0, 1.0])) == pytest.approx(0.0, abs=1e-9)  # one class: nothing to learn
    assert constant_loss("mse", torch.tensor([1.0, 0.0])) == pytest.approx(1.0)  # targets +1, -1: variance 1
    assert constant_loss("bradley_terry", torch.tensor([1.0, 0.0])) == pytest.approx(math.log(2))
    # the constant is the best constant: bce of a constant logit at the mean label equals it
    o = torch.tensor([1.0, 0.0, 0.0, 0.0])
    logit = torch.full((4,), math.log(0.25 / 0.75))
    assert F.binary_cross_entropy_with_logits(logit, o).item() == pytest.approx(constant_loss("bce", o), abs=1e-6)


def _records():
    return [
        OutcomeRecord("what is 2 + 3?", "2 + 3 = 5. \\boxed{5}", 1.0, "g1", "5"),
        OutcomeRecord("what is 2 + 3?", "I think 6", 0.0, "g1", "5"),
        OutcomeRecord("what is 4 * 2?", "\\boxed{8}", 1.0, "g2", "8"),
        OutcomeRecord("what is 4 * 2?", "it is 6", 0.0, "g2", "8"),
    ]


def _pairs():
    return [
        PreferencePair("what is 2 + 3?", "2 + 3 = 5. \\boxed{5}", "2 + 3 = 6. \\boxed{6}", "5"),
        PreferencePair("what is 4 * 2?", "\\boxed{8}", "\\boxed{-8}", "8"),
    ]


def test_batch_loss_is_pointwise_plus_weighted_pairwise(tiny_rm):
    cfg = RMTrainConfig(val_fraction=0.0, progress_bar=False, hard_negative_weight=0.5)
    trainer = RMTrainer(tiny_rm, cfg)
    records, pairs = _records(), _pairs()
    tiny_rm.eval()  # no dropout: the scores below are the ones the loss sees
    loss = trainer._batch_loss([0, 1, 2, 3], trainer._encode(records), records, trainer._encode_pairs(pairs))
    s = tiny_rm.score([r.prompt for r in records], [r.response for r in records])
    b = tiny_rm.score([p.prompt for p in pairs], [p.better for p in pairs])
    w = tiny_rm.score([p.prompt for p in pairs], [p.worse for p in pairs])
    bce = F.binary_cross_entropy_with_logits(s, torch.tensor([1.0, 0.0, 1.0, 0.0]))
    pairwise = -F.logsigmoid(b - w).mean()
    assert loss.item() == pytest.approx((bce + 0.5 * pairwise).item(), abs=1e-5)
    no_pairs = trainer._batch_loss([0, 1, 2, 3], trainer._encode(records), records)
    assert no_pairs.item() == pytest.approx(bce.item(), abs=1e-5)


def test_min_steps_repeats_epochs_and_max_steps_overrides(tiny_rm):
    base = {"val_fraction": 0.0, "progress_bar": False, "batch_size": 4, "train_metrics": False}
    # 4 records, batch 4: one step per epoch
    assert RMTrainer(tiny_rm, RMTrainConfig(epochs=1, min_steps=5, **base)).fit(_records())["steps"] == 5
    assert RMTrainer(tiny_rm, RMTrainConfig(epochs=3, min_steps=2, **base)).fit(_records())["steps"] == 3
    assert RMTrainer(tiny_rm, RMTrainConfig(epochs=1, min_steps=5, max_steps=2, **base)).fit(_records())["steps"] == 2
    # batch 2: two steps an epoch; min_steps=3 stops inside the second epoch
    two = RMTrainer(tiny_rm, RMTrainConfig(**{**base, "batch_size": 2}, epochs=1, min_steps=3)).fit(_records())
    assert two["steps"] == 3 and two["epochs"] == 2
    # min_steps reached inside the configured epochs: every one of them still runs to its end (a fit once took
    # one batch of its last epoch here: 3 epochs of 32 batches with min_steps 64 made 65 steps, not 96)
    for epochs, min_steps in ((1, 1), (2, 1), (2, 3), (3, 4)):
        cfg = RMTrainConfig(**{**base, "batch_size": 2}, epochs=epochs, min_steps=min_steps)
        fit = RMTrainer(tiny_rm, cfg).fit(_records())
        assert (fit["steps"], fit["epochs"], fit["examples_seen"]) == (2 * epochs, epochs, 4 * epochs)
    with pytest.raises(ValueError, match="min_steps must be >= 0"):
        RMTrainConfig(min_steps=-1)


def test_fit_reports_its_own_figures_and_hard_negatives(tiny_rm):
    cfg = RMTrainConfig(val_fraction=0.0, progress_bar=False, batch_size=4, epochs=1)
    metrics = RMTrainer(tiny_rm, cfg).fit(_records(), pairs=_pairs())
    assert metrics["hard_negatives"] == 2
    assert metrics["constant_loss"] == pytest.approx(math.log(2))  # half the records correct: H(1/2)
    # the figures are the fitted model's on its own records, in eval mode
    records = _records()
    s = tiny_rm.score([r.prompt for r in records], [r.response for r in records])
    o = torch.tensor([r.outcome for r in records])
    assert metrics["train_loss"] == pytest.approx(F.binary_cross_entropy_with_logits(s, o).item(), abs=1e-5)
    assert metrics["train_accuracy"] == pytest.approx(((s > 0) == (o >= 0.5)).float().mean().item())
    expected_ranking = ((s[0] > s[1]).float() + (s[2] > s[3]).float()).item() / 2
    assert metrics["train_ranking_accuracy"] == pytest.approx(expected_ranking)
    assert 0.0 <= metrics["train_pair_accuracy"] <= 1.0


def test_pairwise_accuracy_interval():
    assert pairwise_accuracy_interval([1, 1, 1], [0, 0, 0], ["a", "a", "b"]) == (1.0, 1.0)
    assert pairwise_accuracy_interval([0, 0], [0, 0], ["a", "b"]) == (0.5, 0.5)  # ties: exactly a coin
    # one group all right, one all wrong: resampling two groups gives 0, 1/2 or 1
    low, high = pairwise_accuracy_interval([1, 1, 0, 0], [0, 0, 1, 1], ["a", "a", "b", "b"])
    assert (low, high) == (0.0, 1.0)
    # the interval resamples groups, not pairs: 40 groups of 10 pairs, 30 right groups -> around 0.75
    better = [1.0] * 300 + [0.0] * 100
    low, high = pairwise_accuracy_interval(better, [0.5] * 400, [i // 10 for i in range(400)])
    assert low < 0.75 < high and high - low > 0.15  # wider than 400 independent pairs would give (about 0.085)
    assert all(math.isnan(x) for x in pairwise_accuracy_interval([], [], []))
    with pytest.raises(ValueError, match="2 better scores, 2 worse scores and 1 pair groups"):
        pairwise_accuracy_interval([1, 2], [0, 0], ["a"])
