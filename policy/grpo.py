"""GRPO maths as pure functions over tensors (DeepSeekMath, arXiv 2402.03300, Eq. 3).

No models, configs or I/O here: tensors and scalars in, tensors (and a metrics dict) out, so every
formula can be checked against a per-token Python loop (tests/policy/test_grpo_math.py).

- `group_advantages`: A_i = (r_i - mean(r_group)) / (std(r_group) + eps), one value per completion.
  A higher reward gives a positive advantage; a group whose rewards are all equal gives exactly 0.
- `process_advantages` (process supervision, §4.1.3): every step reward of a group is normalised together,
  and a token's advantage is the sum of the normalised rewards of the steps ending at or after it (`credit="sum"`),
  their minimum (`"min"`), or the sum after each step reward became its change from the step before (`"delta"`);
  or (`"rtg"`) each step's return-to-go minus the group's mean return-to-go at the same step index, so that
  identical completions get 0 as under outcome supervision; `mix_advantages` adds a share of the outcome
  advantage (`loop.outcome_share`).
- `grpo_loss`: per token  -min(ratio * A, clip(ratio, 1 - eps_low, 1 + eps_high) * A) + beta * k3_kl,
  with ratio = exp(logp - old_logp) and k3_kl = exp(ref - logp) - (ref - logp) - 1, then averaged by
  `agg_loss` ("seq_mean": the paper's mean over each completion then over completions;
  "token_mean": DAPO's mean over all tokens). Masked tokens never count.
"""

from __future__ import annotations

import torch
from torch import Tensor

ADVANTAGE_SCALES = ("group", "batch", "none")
PROCESS_CREDITS = ("sum", "min", "delta", "rtg")
LOSS_AGGREGATIONS = ("seq_mean", "token_mean")


def masked_sum(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Sum of `values` where `mask` is true; masked entries may hold anything, even inf/NaN."""
    masked = torch.where(mask.bool(), values, torch.zeros((), dtype=values.dtype, device=values.device))
    return masked.sum() if dim is None else masked.sum(dim)


def masked_mean(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Mean of `values` over the entries where `mask` is true (0 where nothing is unmasked)."""
    count = mask.bool().sum() if dim is None else mask.bool().sum(dim)
    return masked_sum(values, mask, dim) / count.clamp(min=1).to(values.dtype)


def agg_loss(loss_mat: Tensor, mask: Tensor, mode: str = "seq_mean") -> Tensor:
    """Reduce a per-token loss to a scalar.

    loss_mat, mask: (N, T). "seq_mean": mean over each row's unmasked tokens, then over the rows that
    have at least one (the paper's 1/G sum_i 1/|o_i| sum_t). "token_mean": mean over all unmasked
    tokens (DAPO), so long completions weigh more.
    """
    if mode == "token_mean":
        return masked_mean(loss_mat, mask)
    if mode == "seq_mean":
        per_sequence = masked_mean(loss_mat, mask, dim=-1)
        has_tokens = mask.bool().any(dim=-1)
        return masked_mean(per_sequence, has_tokens)
    raise ValueError(f"loss_agg must be one of {LOSS_AGGREGATIONS}, got {mode!r}")


def group_advantages(rewards: Tensor, group_size: int, scale: str = "group", eps: float = 1e-4) -> Tensor:
    """Group-relative advantages, one per completion.

    rewards: (N,) with N = B * group_size, group-contiguous (rows [i*G, (i+1)*G) share a prompt).
    scale: "group" divides by each group's std (the paper), "batch" by the std of the whole batch,
    "none" only centres (Dr. GRPO). std is the unbiased estimate, as in TRL.
    Returns (N,) in the rewards' float dtype.
    """
    if scale not in ADVANTAGE_SCALES:
        raise ValueError(f"scale must be one of {ADVANTAGE_SCALES}, got {scale!r}")
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 for group-relative advantages, got {group_size}")
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(
            f"rewards must be 1-D with a length divisible by group_size={group_size}, got {tuple(rewards.shape)}"
        )
    rewards = rewards if rewards.is_floating_point() else rewards.float()
    grouped = rewards.view(-1, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    # mean() of equal floats can be off by one ulp; force exact zeros so such groups carry no signal.
    all_equal = grouped.amax(dim=1, keepdim=True) == grouped.amin(dim=1, keepdim=True)
    centred = torch.where(all_equal, torch.zeros_like(centred), centred)
    if scale == "group":
        centred = centred / (grouped.std(dim=1, keepdim=True) + eps)
    elif scale == "batch":
        centred = centred / (rewards.std() + eps)
    return centred.reshape(-1)


def process_advantages(
    step_rewards: Tensor, step_ends: Tensor, group_size: int, eps: float = 1e-4, *, credit: str = "sum"
) -> Tensor:
    """Process-supervision advantages (DeepSeekMath §4.1.3), one per completion token.

    step_rewards, step_ends: (N, T) over completion tokens, N = B * group_size, group-contiguous rows.
    `step_ends[i, t]` is true where token t ends a step of completion i, and `step_rewards[i, t]` holds that
    step's reward there; values elsewhere are ignored (even NaN). Within each group, all its step rewards R
    are normalised together, r~ = (r - mean(R)) / (std(R) + eps) with the unbiased std (taken as 0 when the
    group holds a single step). Then, by `credit`:

    - "sum" (§4.1.3 exactly): A[i, t] = sum of r~[i, t'] over the step ends t' >= t. A token is credited with
      every step it leads to, so each extra step above the group's mean adds to the credit: length in
      well-rewarded steps is paid.
    - "min" (min-form credit): A[i, t] = min of r~[i, t'] over the step ends t' >= t. A token is worth the
      worst step it leads to; adding steps can only lower it.
    - "delta": before normalisation, step k of a completion gets d_k = r_k - r_{k-1}, its change from the
      completion's previous step (the previous step end in its row), with r_0 := 0, the score of an empty
      solution; then d is normalised as R is above and summed as in "sum". Before normalisation the sum
      telescopes, sum_{j >= k} d_j = r_last - r_{k-1}: a completion's total is its last step's reward whatever
      its length. (The group mean taken off each of a completion's K steps leaves -K * mean(d) / std(d), a
      bounded length term; r_0 := 0 rather than r_1 so that the first step's own reward counts: with r_0 :=
      r_1 a right first step would lower every later credit.)

    - "rtg" (return-to-go with a per-step-index baseline): step k of completion i has the return-to-go
      G_ik = r_ik + r_i(k+1) + ... (raw rewards, its last step's included); the group's baseline at step index k is
      the mean of G_jk over its completions j that have a k-th step, and the step's value is G_ik minus it, over
      the unbiased std of all those centred values in the group. Every token of step k (after step k-1's end, up
      to and including step k's) gets that value. Unlike the three above, a group of identical completions gets
      0 (the §4.1.3 normalisation pools all steps, so it pays a completion for ending before its low-reward steps:
      test_identical_completions_are_not_neutral_under_process_supervision), and with one step per completion
      it is outcome supervision's (r - mean) / std exactly. A step index only one completion reaches gets 0.
      Like "sum", it still pays for more well-rewarded steps (the step labels bound how many can be paid).

    In every mode a group whose step rewards are all equal (one step included) gives exactly 0 (it says
    nothing about which behaviour is better; for "delta" also when its d are all equal), and tokens after a
    completion's last step end get 0. Returns (N, T) in the rewards' float dtype.
    """
    if credit not in PROCESS_CREDITS:
        raise ValueError(f"credit must be one of {PROCESS_CREDITS}, got {credit!r}")
    if step_rewards.shape != step_ends.shape or step_rewards.dim() != 2:
        raise ValueError(
            f"step_rewards and step_ends must both be (N, T), got {tuple(step_rewards.shape)} "
            f"and {tuple(step_ends.shape)}"
        )
    if group_size < 2 or step_rewards.shape[0] % group_size:
        raise ValueError(f"N = {step_rewards.shape[0]} rows must be a multiple of group_size = {group_size} >= 2")
    ends = step_ends.bool()
    rewards = step_rewards if step_rewards.is_floating_point() else step_rewards.float()
    zero = torch.zeros((), dtype=rewards.dtype, device=rewards.device)
    values = torch.where(ends, rewards, zero)
    signal = ~_all_equal(values, ends, group_size)
    if credit == "rtg":
        return torch.where(signal, _return_to_go_advantages(values, ends, group_size, eps), zero)
    if credit == "delta":
        values = torch.where(ends, values - _previous_step_reward(values, ends), zero)
        signal = signal & ~_all_equal(values, ends, group_size)
    normalised = torch.where(signal, _normalise(values, ends, group_size, eps), zero)
    if credit == "min":  # reverse cumulative minimum over the step ends; inf marks "no step at or after t"
        inf = torch.full((), float("inf"), dtype=rewards.dtype, device=rewards.device)
        future_min = torch.where(ends, normalised, inf).flip(-1).cummin(-1).values.flip(-1)
        return torch.where(torch.isinf(future_min), zero, future_min)
    return normalised.flip(-1).cumsum(-1).flip(-1)  # reverse cumulative sum: steps ending at or after t


def _return_to_go_advantages(values: Tensor, ends: Tensor, group_size: int, eps: float) -> Tensor:
    """`process_advantages(credit="rtg")`: (N, T) from the step rewards `values` (0 off the step ends)."""
    n, length = values.shape
    zero = torch.zeros((), dtype=values.dtype, device=values.device)
    returns = values.flip(-1).cumsum(-1).flip(-1)  # at a step end: its reward plus every later step's
    step_index = ends.long().cumsum(-1) - 1  # at a step end: 0 for a completion's first step, 1 for its second...
    steps = int(ends.sum(-1).max().item()) if ends.any() else 0
    if steps == 0:
        return torch.zeros_like(values)
    group = torch.arange(n, device=values.device)[:, None].expand(n, length) // group_size
    slot = (group * steps + step_index)[ends]  # (group, step index) of every step end
    g = returns[ends]
    slots = (n // group_size) * steps
    count = torch.zeros(slots, dtype=values.dtype, device=values.device).index_add_(0, slot, torch.ones_like(g))
    baseline = torch.zeros(slots, dtype=values.dtype, device=values.device).index_add_(0, slot, g) / count.clamp(1)
    high = torch.full((slots,), -torch.inf, dtype=values.dtype, device=values.device).scatter_reduce(0, slot, g, "amax")
    low = torch.full((slots,), torch.inf, dtype=values.dtype, device=values.device).scatter_reduce(0, slot, g, "amin")
    # Equal returns at a step index centre to exact zeros (a mean of equal floats can be off by one ulp).
    centred_at_ends = torch.where(high[slot] == low[slot], zero, g - baseline[slot])
    centred = torch.zeros_like(values).masked_scatter(ends, centred_at_ends)
    normalised = _normalise(centred, ends, group_size, eps)  # their group mean is 0: this only divides by the std
    # Every token takes the value of the step it belongs to: the first step end at or after it.
    positions = torch.arange(length, device=values.device).expand(n, length)
    next_end = torch.where(ends, positions, length).flip(-1).cummin(-1).values.flip(-1)
    owned = normalised.gather(-1, next_end.clamp(max=length - 1))
    return torch.where(next_end < length, owned, zero)


def _normalise(values: Tensor, ends: Tensor, group_size: int, eps: float) -> Tensor:
    """(N, T): each step end's value minus its group's mean over step ends, over the group's unbiased std (0 for
    a group of one step); 0 off the step ends."""
    n, length = values.shape
    zero = torch.zeros((), dtype=values.dtype, device=values.device)
    grouped, grouped_ends = values.reshape(-1, group_size * length), ends.reshape(-1, group_size * length)
    count = grouped_ends.sum(dim=1, keepdim=True).to(values.dtype)
    mean = torch.where(grouped_ends, grouped, zero).sum(dim=1, keepdim=True) / count.clamp(min=1)
    centred = torch.where(grouped_ends, grouped - mean, zero)
    std = (centred.square().sum(dim=1, keepdim=True) / (count - 1).clamp(min=1)).sqrt()
    return (centred / (std + eps)).view(n, length)


def _all_equal(values: Tensor, ends: Tensor, group_size: int) -> Tensor:
    """(N, 1) bool: the values at the step ends of the row's group are all equal (or there is at most one).
    Such a group carries no signal, and its advantages must be exact zeros, not rounding noise."""
    length = values.shape[1]
    grouped, grouped_ends = values.reshape(-1, group_size * length), ends.reshape(-1, group_size * length)
    big, small = torch.finfo(values.dtype).max, torch.finfo(values.dtype).min
    equal = torch.where(grouped_ends, grouped, small).amax(dim=1, keepdim=True) == torch.where(
        grouped_ends, grouped, big
    ).amin(dim=1, keepdim=True)
    return equal.repeat_interleave(group_size, dim=0)


def _previous_step_reward(values: Tensor, ends: Tensor) -> Tensor:
    """(N, T): at each token, the value at the row's last step end strictly before it (0 when there is none)."""
    positions = torch.arange(values.shape[1], device=values.device).expand_as(values)
    last_end = torch.where(ends, positions, -1).cummax(dim=-1).values  # the last step end at or before t
    before = torch.cat([torch.full_like(last_end[:, :1], -1), last_end[:, :-1]], dim=-1)  # strictly before t
    previous = values.gather(-1, before.clamp(min=0))
    return torch.where(before >= 0, previous, torch.zeros((), dtype=values.dtype, device=values.device))


def mix_advantages(process: Tensor, outcome: Tensor, outcome_share: float) -> Tensor:
    """(1 - outcome_share) * process + outcome_share * outcome on every token.

    process: (N, T) per-token process advantages; outcome: (N,) one outcome advantage per completion.
    outcome_share in [0, 1]: 0 is pure process supervision, 1 outcome supervision. Returns (N, T)."""
    if not 0.0 <= outcome_share <= 1.0:
        raise ValueError(f"outcome_share must be in [0, 1], got {outcome_share}")
    if outcome.shape != process.shape[:1]:
        raise ValueError(f"outcome must be (N,) = ({process.shape[0]},), got {tuple(outcome.shape)}")
    return (1 - outcome_share) * process + outcome_share * outcome.to(process.dtype)[:, None]


def k3_kl(logps: Tensor, ref_logps: Tensor) -> Tensor:
    """Per-token k3 estimator of KL(policy || ref): exp(ref - logp) - (ref - logp) - 1 >= 0."""
    log_ratio = ref_logps - logps
    return torch.exp(log_ratio) - log_ratio - 1


def grpo_loss(
    logps: Tensor,
    old_logps: Tensor | None,
    ref_logps: Tensor | None,
    advantages: Tensor,
    mask: Tensor,
    *,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    beta: float = 0.0,
    loss_agg: str = "seq_mean",
) -> tuple[Tensor, dict[str, float]]:
    """Clipped GRPO surrogate with a k3 KL penalty.

    logps: (N, T) log-probs of the completion tokens under the policy being trained (with grad).
    old_logps: (N, T) under the policy that sampled them; None means on-policy (logps.detach()),
    where ratio = 1 and the gradient is the REINFORCE gradient with these advantages.
    ref_logps: (N, T) under the frozen reference; needed when beta > 0 (KL is reported when given).
    advantages: (N,) per completion, or (N, T) per token. mask: (N, T), true on completion tokens.
    Returns (scalar loss, metrics) with metrics `loss`, `kl`, `clip_ratio/low`, `clip_ratio/high`,
    `clip_ratio/region`, `ratio_mean` over unmasked tokens, as floats.
    """
    if beta > 0 and ref_logps is None:
        raise ValueError("beta > 0 needs ref_logps (log-probs under the frozen reference policy)")
    mask = mask.bool()
    zero = torch.zeros((), dtype=logps.dtype, device=logps.device)
    # Sanitise masked entries first: padding may hold -inf, and exp(inf) * 0 would make NaN gradients.
    logps = torch.where(mask, logps, zero)
    old_logps = logps.detach() if old_logps is None else torch.where(mask, old_logps, zero)
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)
    advantages = advantages.to(logps.dtype).expand_as(logps)

    ratio = torch.exp(logps - old_logps)
    clipped_ratio = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    per_token = -torch.minimum(ratio * advantages, clipped_ratio * advantages)
    kl = None
    if ref_logps is not None:
        kl = k3_kl(logps, torch.where(mask, ref_logps, zero))
        if beta > 0:
            per_token = per_token + beta * kl
    loss = agg_loss(per_token, mask, loss_agg)

    with torch.no_grad():
        # A clipped token has zero gradient: below 1 - eps_low with A < 0, above 1 + eps_high with A > 0.
        low = (ratio < 1 - epsilon_low) & (advantages < 0)
        high = (ratio > 1 + epsilon_high) & (advantages > 0)
        metrics = {
            "loss": loss.item(),
            "kl": masked_mean(kl, mask).item() if kl is not None else 0.0,
            "clip_ratio/low": masked_mean(low.to(logps.dtype), mask).item(),
            "clip_ratio/high": masked_mean(high.to(logps.dtype), mask).item(),
            "clip_ratio/region": masked_mean((low | high).to(logps.dtype), mask).item(),
            "ratio_mean": masked_mean(ratio, mask).item(),
        }
    return loss, metrics
