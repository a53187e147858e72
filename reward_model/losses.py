"""Reward-model losses as pure functions over tensors, each returning `(loss, metrics)`.

    mse            regress the outcome mapped to [-1, 1] (target = 2 * outcome - 1: correct +1, wrong -1)
    bce            pointwise logistic loss on outcome in [0, 1] (soft labels allowed); the score is a logit
    bradley_terry  pairwise: mean over within-group pairs (i better than j) of -logsigmoid(r_i - r_j - margin)

`pair_loss(better, worse)` is the same pairwise loss over explicit pairs: the trainer adds it, times
`hard_negative_weight`, to any of the three for hard negatives (a correct response against a rewrite of it with a
wrong final answer). `constant_loss(name, outcomes)` is what the best constant score achieves: a fit whose loss is
not below it has learned nothing (bce: the label entropy).

`compute_loss(name, ...)` dispatches on the name the config carries. `to_unit_scale(scores, name)` puts an
RM's raw scores on the verifier's [0, 1] scale, by what the loss it was trained with makes a score mean:

    bce            sigmoid(score): the predicted probability of being correct
    mse            (score + 1) / 2 clipped to [0, 1]: the inverse of the target map, i.e. the predicted outcome
    bradley_terry  sigmoid(score): the modelled probability that the response beats one scored 0 (BT fixes
                   only score differences, so this is a monotone squashing, not a calibrated probability)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("mse", "bce", "bradley_terry")


def mse_loss(scores: torch.Tensor, outcomes: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """scores, outcomes: (B,). Outcome 1 -> target +1, 0 -> -1, a score in between maps linearly, so the
    RM's scale matches the +1/-1 rewards a rule verifier would give."""
    targets = 2.0 * outcomes.to(scores.dtype) - 1.0
    loss = F.mse_loss(scores, targets)
    return loss, {"loss": loss.item()}


def bce_loss(scores: torch.Tensor, outcomes: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """scores: (B,) logits; outcomes: (B,) in [0, 1]. sigmoid(score) estimates P(correct)."""
    loss = F.binary_cross_entropy_with_logits(scores, outcomes.to(scores.dtype))
    return loss, {"loss": loss.item()}


def within_group_pairs(outcomes: torch.Tensor, group_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index tensors `(better, worse)`, each (P,), of all pairs in one group with outcome[better] > outcome[worse].

    outcomes: (B,); group_ids: (B,) integers, equal for members of one group.
    """
    same_group = group_ids[:, None] == group_ids[None, :]
    beats = outcomes[:, None] > outcomes[None, :]
    better, worse = torch.nonzero(same_group & beats, as_tuple=True)
    return better, worse


def bradley_terry_loss(
    scores: torch.Tensor, outcomes: torch.Tensor, group_ids: torch.Tensor, margin: float = 0.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean over within-group pairs of -logsigmoid(r_better - r_worse - margin).

    scores, outcomes, group_ids: (B,). Equal scores and margin 0 give log 2 per pair. A batch with no pair
    gives a zero loss that still depends on `scores`, so every data-parallel rank runs the same backward.
    """
    better, worse = within_group_pairs(outcomes, group_ids)
    if better.numel() == 0:
        return scores.sum() * 0.0, {"loss": 0.0, "pairs": 0.0, "pair_accuracy": float("nan")}
    return pair_loss(scores[better], scores[worse], margin)


def pair_loss(
    better_scores: torch.Tensor, worse_scores: torch.Tensor, margin: float = 0.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean over pairs of -logsigmoid(better - worse - margin); better_scores, worse_scores: (P,), P >= 1.
    `pair_accuracy`: share of pairs with better > worse, a tie counting 1/2."""
    diff = better_scores - worse_scores
    loss = -F.logsigmoid(diff - margin).mean()
    accuracy = ((diff > 0).float() + 0.5 * (diff == 0).float()).mean().item()
    return loss, {"loss": loss.item(), "pairs": float(diff.numel()), "pair_accuracy": accuracy}


def constant_loss(name: str, outcomes: torch.Tensor) -> float:
    """The loss of the best constant score on these outcomes (B,): bce the cross-entropy of the labels against
    their mean (for 0/1 labels the label entropy H(mean outcome), in nats), mse the variance of the targets
    2 * outcome - 1, bradley_terry log 2 (a constant scores every pair equal)."""
    o = outcomes.double()
    if name == "bce":
        p = o.mean().clamp(1e-12, 1 - 1e-12)
        return float(-(o * p.log() + (1 - o) * (1 - p).log()).mean())
    if name == "mse":
        return float((2 * o - 1).var(unbiased=False))
    if name == "bradley_terry":
        return float(torch.log(torch.tensor(2.0)))
    raise ValueError(f"unknown loss {name!r}; choose one of {LOSSES}")


def to_unit_scale(scores: torch.Tensor, loss: str) -> torch.Tensor:
    """scores: (N,) raw RM outputs -> (N,) in [0, 1], the scale of verifier scores (see the module docstring)."""
    scores = scores.float()
    if loss in ("bce", "bradley_terry"):
        return torch.sigmoid(scores)
    if loss == "mse":
        return ((scores + 1.0) / 2.0).clamp(0.0, 1.0)
    raise ValueError(f"unknown loss {loss!r}; choose one of {LOSSES}")


def compute_loss(
    name: str, scores: torch.Tensor, outcomes: torch.Tensor, group_ids: torch.Tensor, margin: float = 0.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """Dispatch to the loss called `name` (one of LOSSES); all inputs (B,)."""
    if name == "mse":
        return mse_loss(scores, outcomes)
    if name == "bce":
        return bce_loss(scores, outcomes)
    if name == "bradley_terry":
        return bradley_terry_loss(scores, outcomes, group_ids, margin)
    raise ValueError(f"unknown loss {name!r}; choose one of {LOSSES}")
