"""GRPO advantages and loss against a naive per-token Python loop, hand-computed cases and invariances."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from policy.grpo import agg_loss, group_advantages, grpo_loss, k3_kl, masked_mean


def naive_advantages(rewards: list[float], group_size: int, eps: float) -> list[float]:
    out = []
    for start in range(0, len(rewards), group_size):
        group = rewards[start : start + group_size]
        mean = sum(group) / len(group)
        std = math.sqrt(sum((r - mean) ** 2 for r in group) / (len(group) - 1))
        out += [(r - mean) / (std + eps) for r in group]
    return out


def naive_loss(logps, old_logps, ref_logps, advantages, mask, eps_low, eps_high, beta, loss_agg):
    """DESIGN.md's formula token by token, in Python floats; `advantages[i]` per row, or `advantages[i][t]`."""
    per_row, all_tokens = [], []
    for i in range(len(logps)):
        row = []
        for t in range(len(logps[i])):
            if not mask[i][t]:
                continue
            a = advantages[i][t] if isinstance(advantages[i], list) else advantages[i]
            ratio = math.exp(logps[i][t] - old_logps[i][t])
            clipped = min(max(ratio, 1 - eps_low), 1 + eps_high)
            pg = -min(ratio * a, clipped * a)
            d = ref_logps[i][t] - logps[i][t]
            row.append(pg + beta * (math.exp(d) - d - 1))
        if row:
            per_row.append(sum(row) / len(row))
        all_tokens += row
    return sum(per_row) / len(per_row) if loss_agg == "seq_mean" else sum(all_tokens) / len(all_tokens)


def random_batch(dtype, rows=6, length=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    logps = -torch.rand(rows, length, generator=g, dtype=dtype) * 3
    old_logps = logps + 0.4 * torch.randn(rows, length, generator=g, dtype=dtype)  # ratios well outside [0.8, 1.2]
    ref_logps = logps + 0.3 * torch.randn(rows, length, generator=g, dtype=dtype)
    advantages = torch.randn(rows, generator=g, dtype=dtype)
    lengths = torch.tensor([7, 3, 1, 5, 7, 2])[:rows]
    mask = torch.arange(length)[None, :] < lengths[:, None]
    return logps, old_logps, ref_logps, advantages, mask


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("loss_agg", ["seq_mean", "token_mean"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_loss_matches_naive_loop(dtype, loss_agg, beta):
    logps, old, ref, adv, mask = random_batch(dtype)
    loss, _ = grpo_loss(logps, old, ref, adv, mask, epsilon_low=0.2, epsilon_high=0.28, beta=beta, loss_agg=loss_agg)
    expected = naive_loss(
        logps.tolist(), old.tolist(), ref.tolist(), adv.tolist(), mask.tolist(), 0.2, 0.28, beta, loss_agg
    )
    assert loss.dtype == dtype
    assert_close(loss, torch.tensor(expected, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_advantages_match_naive_loop(dtype, scale):
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.0, 2.0, 2.0, -1.0, 3.0, 0.2, 0.1, 0.7, 0.9], dtype=dtype)
    advantages = group_advantages(rewards, group_size=4, scale=scale, eps=1e-4)
    if scale == "group":
        expected = naive_advantages(rewards.tolist(), 4, 1e-4)
    else:
        centred = [r - sum(g) / 4 for g in [rewards.tolist()[i : i + 4] for i in range(0, 12, 4)] for r in g]
        expected = [c / (rewards.std().item() + 1e-4) for c in centred] if scale == "batch" else centred
    assert advantages.dtype == dtype
    assert_close(advantages, torch.tensor(expected, dtype=dtype))


def test_equal_rewards_give_exactly_zero_advantage():
    # 0.1 * 3 / 3 is not exactly 0.1 in floating point: zeros must be exact anyway.
    rewards = torch.tensor([0.1, 0.1, 0.1, 1.0, 0.0, 0.0])
    advantages = group_advantages(rewards, group_size=3)
    assert torch.equal(advantages[:3], torch.zeros(3))
    assert advantages[3] > 0 > advantages[4]


def test_higher_reward_gives_positive_advantage():
    # Group (1, 0): mean 0.5, unbiased std sqrt(0.5) -> A = +-0.5 / (0.7071 + eps).
    advantages = group_advantages(torch.tensor([1.0, 0.0]), group_size=2, eps=0.0)
    assert_close(advantages, torch.tensor([0.5, -0.5]) / math.sqrt(0.5))


def test_advantages_reject_bad_shapes():
    with pytest.raises(ValueError, match="divisible by group_size=4"):
        group_advantages(torch.zeros(6), group_size=4)
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        group_advantages(torch.zeros(6), group_size=1)
    with pytest.raises(ValueError, match="scale must be one of"):
        group_advantages(torch.zeros(4), group_size=2, scale="rank")


def test_ratio_one_gives_minus_mean_advantage():
    # old = logps and beta = 0: every token's loss is -A_i, so seq_mean = -mean(A) whatever the lengths.
    logps = torch.log(torch.rand(3, 5))
    advantages = torch.tensor([1.5, -0.5, 0.25])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    loss, metrics = grpo_loss(logps, logps.clone(), None, advantages, mask, beta=0.0)
    assert_close(loss, -advantages.mean())
    assert metrics["ratio_mean"] == pytest.approx(1.0)
    assert metrics["clip_ratio/low"] == metrics["clip_ratio/high"] == 0.0


def test_clipping_fires_exactly_where_expected():
    # Ratios exp(log r) = 0.5, 0.9, 1.1, 1.5 with eps = 0.2: clipping binds at 0.5 when A < 0 and at 1.5
    # when A > 0; elsewhere the unclipped term is the minimum.
    ratios = torch.tensor([[0.5, 0.9, 1.1, 1.5]])
    old = torch.zeros(1, 4)
    mask = torch.ones(1, 4)
    for advantage, low, high, expected_loss in [
        (1.0, 0.0, 0.25, -(0.5 + 0.9 + 1.1 + 1.2) / 4),  # A > 0: min(r, clip(r)) = 0.5, 0.9, 1.1, 1.2
        (-1.0, 0.25, 0.0, (0.8 + 0.9 + 1.1 + 1.5) / 4),  # A < 0: max(r, clip(r)) = 0.8, 0.9, 1.1, 1.5
    ]:
        logps = torch.log(ratios).requires_grad_()
        loss, metrics = grpo_loss(logps, old, None, torch.tensor([advantage]), mask, epsilon_low=0.2, epsilon_high=0.2)
        assert loss.item() == pytest.approx(expected_loss)
        assert metrics["clip_ratio/low"] == low and metrics["clip_ratio/high"] == high
        loss.backward()
        clipped = torch.tensor([advantage < 0, False, False, advantage > 0])
        assert torch.all((logps.grad[0] == 0) == clipped)  # a clipped token gets no gradient


def test_k3_kl_is_zero_at_equality_and_positive_otherwise():
    logps = torch.log(torch.rand(4, 6))
    assert torch.equal(k3_kl(logps, logps), torch.zeros(4, 6))
    other = logps + torch.randn(4, 6)
    assert torch.all(k3_kl(logps, other)[other != logps] > 0)
    # d = ref - logp = 1: e - 1 - 1.
    assert k3_kl(torch.tensor(0.0), torch.tensor(1.0)).item() == pytest.approx(math.e - 2)
    _, metrics = grpo_loss(logps, logps, logps, torch.ones(4), torch.ones(4, 6), beta=0.1)
    assert metrics["kl"] == 0.0


@pytest.mark.parametrize("loss_agg", ["seq_mean", "token_mean"])
def test_masked_and_padded_tokens_change_nothing(loss_agg):
    logps, old, ref, adv, mask = random_batch(torch.float64)
    logps.requires_grad_()
    loss, metrics = grpo_loss(logps, old, ref, adv, mask, beta=0.04, loss_agg=loss_agg)
    (grad,) = torch.autograd.grad(loss, logps)
    garbage = lambda x: torch.where(mask, x, torch.tensor(float("inf")))  # noqa: E731
    poisoned = torch.where(mask, logps.detach(), torch.tensor(-float("inf"))).requires_grad_()
    # Extra all-padding columns on the right as well.
    pad = lambda x, v: torch.cat([x, torch.full((x.shape[0], 3), v, dtype=x.dtype)], dim=1)  # noqa: E731
    loss2, metrics2 = grpo_loss(
        pad(poisoned, float("nan")),
        pad(garbage(old), 5.0),
        pad(garbage(ref), -7.0),
        adv,
        pad(mask, False),
        beta=0.04,
        loss_agg=loss_agg,
    )
    (grad2,) = torch.autograd.grad(loss2, poisoned)
    assert_close(loss2, loss)
    assert metrics2 == pytest.approx(metrics)
    assert_close(grad2, grad)
    assert torch.all(grad2[~mask] == 0)


def test_on_policy_gradient_equals_reinforce():
    # old = None (ratio = 1): grad of the GRPO loss = grad of -mean_i A_i * mean_t logp_it (seq_mean).
    logps, _, _, adv, mask = random_batch(torch.float64)
    logps.requires_grad_()
    loss, _ = grpo_loss(logps, None, None, adv, mask, beta=0.0)
    (grad,) = torch.autograd.grad(loss, logps)
    reinforce = -(adv * masked_mean(logps, mask, dim=1)).mean()
    (expected,) = torch.autograd.grad(reinforce, logps)
    assert_close(grad, expected)


def test_agg_loss_modes_by_hand():
    loss_mat = torch.tensor([[1.0, 3.0, 100.0], [4.0, 100.0, 100.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert agg_loss(loss_mat, mask, "seq_mean").item() == pytest.approx((2.0 + 4.0) / 2)
    assert agg_loss(loss_mat, mask, "token_mean").item() == pytest.approx((1 + 3 + 4) / 3)
    with pytest.raises(ValueError, match="loss_agg must be one of"):
        agg_loss(loss_mat, mask, "sum")


def test_beta_without_reference_is_an_error():
    x = torch.zeros(1, 2)
    with pytest.raises(ValueError, match="beta > 0 needs ref_logps"):
        grpo_loss(x, x, None, torch.ones(1), torch.ones(1, 2), beta=0.1)


# ----------------------------------------------------------------------------- process supervision


def naive_process_advantages(step_rewards, step_ends, group_size, eps):
    """§4.1.3 token by token, in Python floats."""
    n, length = len(step_rewards), len(step_rewards[0])
    out = [[0.0] * length for _ in range(n)]
    for start in range(0, n, group_size):
        rows = range(start, start + group_size)
        rewards = [step_rewards[i][t] for i in rows for t in range(length) if step_ends[i][t]]
        mean = sum(rewards) / len(rewards) if rewards else 0.0
        std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (len(rewards) - 1)) if len(rewards) > 1 else 0.0
        for i in rows:
            for t in range(length):
                out[i][t] = sum((step_rewards[i][u] - mean) / (std + eps) for u in range(t, length) if step_ends[i][u])
    return out


def random_steps(dtype, rows=6, length=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    ends = torch.rand(rows, length, generator=g) < 0.3
    ends[1] = False  # a completion with no step at all
    ends[2, -1] = True  # a step ending on the last token
    rewards = torch.rand(rows, length, generator=g, dtype=dtype)
    rewards[~ends] = math.nan  # values off the step ends are ignored, even NaN
    return rewards, ends


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("group_size", [2, 3, 6])
def test_process_advantages_match_naive_loop(dtype, group_size):
    from policy.grpo import process_advantages

    rewards, ends = random_steps(dtype)
    advantages = process_advantages(rewards, ends, group_size)
    expected = naive_process_advantages(rewards.tolist(), ends.tolist(), group_size, 1e-4)
    assert advantages.dtype == dtype and advantages.shape == rewards.shape
    assert_close(advantages, torch.tensor(expected, dtype=dtype))


def test_process_advantages_hand_computed():
    from policy.grpo import process_advantages

    nan = math.nan
    # One group of two completions, 4 tokens each. Completion 0: steps end at t=1 (reward 1) and t=3 (0).
    # Completion 1: one step of one token at t=0 (reward 0.5), then two tokens after its last step.
    # R = {1, 0, 0.5}: mean 0.5, unbiased std sqrt((0.25 + 0.25 + 0) / 2) = 0.5, r~ = {1, -1, 0} (eps = 0).
    rewards = torch.tensor([[nan, 1.0, nan, 0.0], [0.5, nan, nan, nan]])
    ends = torch.tensor([[False, True, False, True], [True, False, False, False]])
    expected = torch.tensor([[1 - 1, 1 - 1, -1, -1], [0, 0, 0, 0]], dtype=torch.float32)
    assert_close(process_advantages(rewards, ends, 2, eps=0.0), expected)
    # A group holding one step in all: std taken as 0 and r - mean = 0, so every advantage is exactly 0.
    one = process_advantages(torch.tensor([[0.7, 0.0], [0.0, 0.0]]), torch.tensor([[True, False], [False, False]]), 2)
    assert torch.equal(one, torch.zeros(2, 2))
    # Equal step rewards everywhere: exactly zero, as for outcome advantages.
    same = process_advantages(torch.full((2, 3), 0.3), torch.ones(2, 3, dtype=torch.bool), 2)
    assert torch.equal(same, torch.zeros(2, 3))
    # A truncated last step (no end marked after t=1): the tokens after the last end get 0.
    cut = process_advantages(
        torch.tensor([[1.0, nan, nan], [0.0, nan, nan]]),
        torch.tensor([[True, False, False], [True, False, False]]),
        2,
        eps=0.0,
    )
    s = 1 / math.sqrt(0.5)  # R = {1, 0}: mean 0.5, std sqrt(0.5)
    assert_close(cut, torch.tensor([[0.5 * s, 0, 0], [-0.5 * s, 0, 0]]))


def test_process_advantages_reject_bad_shapes():
    from policy.grpo import process_advantages

    with pytest.raises(ValueError, match="must both be"):
        process_advantages(torch.zeros(4, 3), torch.zeros(4, 2, dtype=torch.bool), 2)
    with pytest.raises(ValueError, match="multiple of group_size"):
        process_advantages(torch.zeros(3, 2), torch.zeros(3, 2, dtype=torch.bool), 2)


@pytest.mark.parametrize("loss_agg", ["seq_mean", "token_mean"])
def test_per_token_advantages_equal_to_a_broadcast_give_the_same_loss_and_gradient(loss_agg):
    logps, old, ref, adv, mask = random_batch(torch.float64)
    grads = []
    for advantages in (adv, adv[:, None].expand_as(logps).clone()):  # (N,) and the same values as (N, T)
        x = logps.clone().requires_grad_(True)
        loss, metrics = grpo_loss(x, old, ref, advantages, mask, beta=0.04, loss_agg=loss_agg)
        loss.backward()
        grads.append((loss.detach(), x.grad, metrics))
    assert_close(grads[0][0], grads[1][0])
    assert_close(grads[0][1], grads[1][1])
    assert grads[0][2] == grads[1][2]
    # and per-token advantages are used token by token: the naive loop with a per-token A
    per_token = torch.randn(logps.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    loss, _ = grpo_loss(
        logps, old, ref, per_token, mask, epsilon_low=0.2, epsilon_high=0.28, beta=0.04, loss_agg=loss_agg
    )
    expected = naive_loss(
        logps.tolist(), old.tolist(), ref.tolist(), per_token.tolist(), mask.tolist(), 0.2, 0.28, 0.04, loss_agg
    )
    assert_close(loss, torch.tensor(expected, dtype=torch.float64))


# ----------------------------------------------------------------------------- credit modes: min and delta


def naive_credit_advantages(step_rewards, step_ends, group_size, eps, credit):
    """process_advantages' three credit modes token by token, in Python floats."""
    n, length = len(step_rewards), len(step_rewards[0])
    rewards = [[step_rewards[i][t] if step_ends[i][t] else None for t in range(length)] for i in range(n)]
    raw_equal = {}
    for start in range(0, n, group_size):
        group = [r for i in range(start, start + group_size) for r in rewards[i] if r is not None]
        raw_equal[start] = len(set(group)) <= 1
    if credit == "delta":  # each step's change from the row's previous step, the first from 0
        for i in range(n):
            previous = 0.0
            for t in range(length):
                if rewards[i][t] is not None:
                    rewards[i][t], previous = rewards[i][t] - previous, rewards[i][t]
    out = [[0.0] * length for _ in range(n)]
    for start in range(0, n, group_size):
        rows = range(start, start + group_size)
        group = [r for i in rows for r in rewards[i] if r is not None]
        if raw_equal[start] or len(set(group)) <= 1:
            continue  # all zeros
        mean = sum(group) / len(group)
        std = math.sqrt(sum((r - mean) ** 2 for r in group) / (len(group) - 1))
        for i in rows:
            for t in range(length):
                future = [(rewards[i][u] - mean) / (std + eps) for u in range(t, length) if rewards[i][u] is not None]
                if future:
                    out[i][t] = min(future) if credit == "min" else sum(future)
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("group_size", [2, 3, 6])
@pytest.mark.parametrize("credit", ["sum", "min", "delta"])
def test_process_credit_modes_match_naive_loop(dtype, group_size, credit):
    from policy.grpo import process_advantages

    for seed in range(3):
        rewards, ends = random_steps(dtype, seed=seed)
        advantages = process_advantages(rewards, ends, group_size, credit=credit)
        expected = naive_credit_advantages(rewards.tolist(), ends.tolist(), group_size, 1e-4, credit)
        assert advantages.dtype == dtype and advantages.shape == rewards.shape
        assert_close(advantages, torch.tensor(expected, dtype=dtype))


def test_sum_credit_is_the_default_and_the_naive_section_4_1_3_loop():
    from policy.grpo import process_advantages

    rewards, ends = random_steps(torch.float64, seed=4)
    assert torch.equal(process_advantages(rewards, ends, 3), process_advantages(rewards, ends, 3, credit="sum"))
    assert_close(
        process_advantages(rewards, ends, 3, credit="sum"),
        torch.tensor(naive_process_advantages(rewards.tolist(), ends.tolist(), 3, 1e-4), dtype=torch.float64),
    )


def test_min_and_delta_credit_hand_computed():
    from policy.grpo import process_advantages

    nan = math.nan
    # The group of test_process_advantages_hand_computed: completion 0 has steps ending at t=1 (reward 1) and
    # t=3 (0), completion 1 one step at t=0 (0.5). R = {1, 0, 0.5} normalises to r~ = {1, -1, 0} (eps = 0).
    rewards = torch.tensor([[nan, 1.0, nan, 0.0], [0.5, nan, nan, nan]])
    ends = torch.tensor([[False, True, False, True], [True, False, False, False]])
    # min: t=0,1 lead to steps {1, -1} -> -1; t=2,3 to {-1} -> -1; completion 1: t=0 -> 0, after it 0.
    assert_close(
        process_advantages(rewards, ends, 2, eps=0.0, credit="min"),
        torch.tensor([[-1.0, -1.0, -1.0, -1.0], [0.0, 0.0, 0.0, 0.0]]),
    )
    # delta: d = {1 - 0, 0 - 1} = {1, -1} and {0.5 - 0} = {0.5}. D = {1, -1, 0.5}: mean 1/6, centred
    # {5/6, -7/6, 1/3}, unbiased variance (25 + 49 + 4) / 36 / 2 = 13/12, so d~ = {5/6, -7/6, 1/3} / sqrt(13/12).
    # Completion 0: t=0,1 get d~_1 + d~_2 = -1/3 / s; t=2,3 get -7/6 / s. Completion 1: t=0 gets 1/3 / s.
    s = math.sqrt(13 / 12)
    assert_close(
        process_advantages(rewards, ends, 2, eps=0.0, credit="delta"),
        torch.tensor([[-1 / 3 / s, -1 / 3 / s, -7 / 6 / s, -7 / 6 / s], [1 / 3 / s, 0.0, 0.0, 0.0]]),
    )


def test_credit_modes_on_a_repeater_against_an_honest_solution():
    """The failure the study ran into: one completion writes a true step three times and then a wrong answer
    (rewards 1, 1, 1, 0), the other solves it in two true steps (1, 1). R = {1, 1, 1, 0, 1, 1}: mean 5/6,
    unbiased std sqrt((5 * 1/36 + 25/36) / 5) = sqrt(1/6); r~ = +(1/6)/sqrt(1/6) = +0.408 for a 1,
    -(5/6)/sqrt(1/6) = -2.041 for the 0 (eps = 0)."""
    from policy.grpo import process_advantages

    rewards = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    ends = torch.tensor([[True, True, True, True], [True, True, False, False]])
    up, down = (1 / 6) / math.sqrt(1 / 6), -(5 / 6) / math.sqrt(1 / 6)
    summed = process_advantages(rewards, ends, 2, eps=0.0)
    # sum: the repeater's first token collects 3 * 0.408 - 2.041 = -0.816, the honest one's 2 * 0.408 = 0.816.
    assert_close(summed[:, 0], torch.tensor([3 * up + down, 2 * up]))
    # min: the repeater's every token is worth its wrong last step; the honest one's +0.408 throughout.
    assert_close(
        process_advantages(rewards, ends, 2, eps=0.0, credit="min"), torch.tensor([[down] * 4, [up, up, 0.0, 0.0]])
    )
    # delta: d = {1, 0, 0, -1} and {1, 0}; D mean 1/6, centred {5/6, -1/6, -1/6, -7/6, 5/6, -1/6}, unbiased
    # variance (25 + 1 + 1 + 49 + 25 + 1) / 36 / 5 = 17/30. First tokens: (5 - 1 - 1 - 7) / 6 = -2/3 and
    # (5 - 1) / 6 = 2/3 over sqrt(17/30): the repeater's three true steps telescope away.
    s = math.sqrt(17 / 30)
    delta = process_advantages(rewards, ends, 2, eps=0.0, credit="delta")
    assert_close(delta[:, 0], torch.tensor([-2 / 3 / s, 2 / 3 / s]))


@pytest.mark.parametrize("credit", ["sum", "min", "delta", "rtg"])
def test_credit_mode_invariants(credit):
    from policy.grpo import process_advantages

    nan = math.nan
    # Equal step rewards in a group, at any lengths: exactly zero (delta's d = {0.3, 0, 0} and {0.3} differ,
    # yet the group's rewards say nothing about which completion is better).
    same = process_advantages(
        torch.tensor([[0.3, 0.3, 0.3], [0.3, nan, nan]]),
        torch.tensor([[True, True, True], [True, False, False]]),
        2,
        credit=credit,
    )
    assert torch.equal(same, torch.zeros(2, 3))
    # Tokens after a completion's last step end get 0, and values off the step ends (NaN) change nothing.
    rewards, ends = random_steps(torch.float64, seed=5)
    advantages = process_advantages(rewards, ends, 3, credit=credit)
    for i in range(len(ends)):
        ends_at = ends[i].nonzero().flatten().tolist()
        after = ends_at[-1] + 1 if ends_at else 0
        assert torch.all(advantages[i, after:] == 0)
    filled = torch.where(ends, rewards, torch.tensor(123.0, dtype=torch.float64))
    assert torch.equal(process_advantages(filled, ends, 3, credit=credit), advantages)
    # A group holding one step in all: 0.
    one = process_advantages(
        torch.tensor([[0.7, 0.0], [0.0, 0.0]]), torch.tensor([[True, False], [False, False]]), 2, credit=credit
    )
    assert torch.equal(one, torch.zeros(2, 2))


# ----------------------------------------------------------------------------- credit mode: rtg


def naive_rtg_advantages(step_rewards, step_ends, group_size, eps):
    """process_advantages(credit="rtg") token by token, in Python floats: return-to-go per step, minus the group's
    mean return-to-go at that step index, over the unbiased std of the centred values; each token takes its step's."""
    n, length = len(step_rewards), len(step_rewards[0])
    out = [[0.0] * length for _ in range(n)]
    for start in range(0, n, group_size):
        rows = range(start, start + group_size)
        steps = {i: [step_rewards[i][t] for t in range(length) if step_ends[i][t]] for i in rows}
        if len({r for i in rows for r in steps[i]}) <= 1:
            continue  # equal step rewards (or at most one step): no signal
        returns = {i: [sum(steps[i][k:]) for k in range(len(steps[i]))] for i in rows}
        centred = {}
        for i in rows:
            for k, g in enumerate(returns[i]):
                peers = [returns[j][k] for j in rows if len(returns[j]) > k]
                centred[i, k] = 0.0 if len(set(peers)) == 1 else g - sum(peers) / len(peers)
        values = list(centred.values())
        std = math.sqrt(sum(c * c for c in values) / max(len(values) - 1, 1))
        for i in rows:
            k = 0
            for t in range(length):
                if k < len(steps[i]):
                    out[i][t] = centred[i, k] / (std + eps)
                if step_ends[i][t]:
                    k += 1
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("group_size", [2, 3, 6])
def test_rtg_credit_matches_naive_loop(dtype, group_size):
    from policy.grpo import process_advantages

    for seed in range(4):
        rewards, ends = random_steps(dtype, seed=seed)
        advantages = process_advantages(rewards, ends, group_size, credit="rtg")
        expected = naive_rtg_advantages(rewards.tolist(), ends.tolist(), group_size, 1e-4)
        assert advantages.dtype == dtype and advantages.shape == rewards.shape
        assert_close(advantages, torch.tensor(expected, dtype=dtype))


def test_rtg_credit_hand_computed():
    from policy.grpo import process_advantages

    # The group of test_identical_completions_are_not_neutral_under_process_supervision: eight identical
    # completions [1, 1, 0] get exactly 0, as under outcome supervision.
    same = process_advantages(torch.tensor([[1.0, 1.0, 0.0]] * 8), torch.ones(8, 3, dtype=torch.bool), 8, credit="rtg")
    assert torch.equal(same, torch.zeros(8, 3))
    # A right solution (steps 1, 1, answer 1), the same with a wrong answer (1, 1, 0), and one that stops after a
    # true step (1): returns {3, 2, 1}, {2, 1, 0}, {1}. Step index 0: mean 2 -> +1, 0, -1; index 1: mean 1.5 ->
    # +0.5, -0.5; index 2: mean 0.5 -> +0.5, -0.5. Centred values {1, .5, .5, 0, -.5, -.5, -1}: unbiased variance
    # (1 + 4 * 0.25 + 1) / 6 = 1/2, so each is over sqrt(1/2) (eps = 0). Tokens: steps end at t = 0, 1, 2.
    rewards = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    ends = torch.tensor([[True, True, True], [True, True, True], [True, False, False]])
    s = math.sqrt(1 / 2)
    expected = torch.tensor([[1.0, 0.5, 0.5], [0.0, -0.5, -0.5], [-1.0, 0.0, 0.0]]) / s
    assert_close(process_advantages(rewards, ends, 3, eps=0.0, credit="rtg"), expected)
    # A true step then a wrong answer, against a wrong first step alone. Every token of a step takes that step's
    # value: step 2 of completion 0 spans t = 1..3, its end at t = 3.
    rewards = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    ends = torch.tensor([[True, False, False, True], [True, False, False, False]])
    # returns {1, 0} and {0}: index 0 centred +0.5, -0.5; index 1 alone -> 0; variance (0.25 + 0 + 0.25) / 2.
    assert_close(
        process_advantages(rewards, ends, 2, eps=0.0, credit="rtg"),
        torch.tensor([[0.5, 0.0, 0.0, 0.0], [-0.5, 0.0, 0.0, 0.0]]) / 0.5,
    )


def test_rtg_credit_with_one_step_each_is_outcome_supervision():
    from policy.grpo import process_advantages

    outcome = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.3, 0.7, 0.7, 0.1])
    rewards = torch.zeros(8, 5)
    ends = torch.zeros(8, 5, dtype=torch.bool)
    last = torch.tensor([4, 2, 3, 4, 0, 1, 4, 2])  # one step per completion, ending anywhere
    ends[torch.arange(8), last] = True
    rewards[torch.arange(8), last] = outcome
    advantages = process_advantages(rewards, ends, 4, credit="rtg")
    expected = group_advantages(outcome, 4)
    for i in range(8):
        assert_close(advantages[i, : last[i] + 1], expected[i].expand(int(last[i]) + 1))
        assert torch.all(advantages[i, last[i] + 1 :] == 0)


def test_unknown_credit_mode_is_an_error():
    from policy.grpo import process_advantages

    with pytest.raises(ValueError, match="credit must be one of"):
        process_advantages(torch.zeros(2, 2), torch.ones(2, 2, dtype=torch.bool), 2, credit="mean")


def test_mix_advantages_by_hand():
    from policy.grpo import mix_advantages

    process = torch.tensor([[2.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    outcome = torch.tensor([0.5, -0.5])
    # 0.9 * process + 0.1 * outcome on every token: [1.85, 0.95, 0.05] and [-0.95, -0.05, -0.05].
    assert_close(mix_advantages(process, outcome, 0.1), torch.tensor([[1.85, 0.95, 0.05], [-0.95, -0.05, -0.05]]))
    assert torch.equal(mix_advantages(process, outcome, 0.0), process)  # pure process supervision
    assert torch.equal(mix_advantages(process, outcome, 1.0), outcome[:, None].expand(2, 3))  # pure outcome
    with pytest.raises(ValueError, match="outcome_share must be in"):
        mix_advantages(process, outcome, 1.5)
    with pytest.raises(ValueError, match="outcome must be"):
        mix_advantages(process, torch.zeros(3), 0.1)


def test_identical_completions_are_not_neutral_under_process_supervision():
    """§4.1.3 normalises every step reward of a group together, so a group of identical completions [1, 1, 0] (two
    true steps, a wrong answer) still gets advantages: mean 2/3, unbiased std sqrt((16/9 + 32/9) / 23) over the
    24 steps, so a true step is worth +0.692 and the wrong one -1.385; summed over the later steps the tokens of
    step 1, 2, 3 get 0, -0.692, -1.385. Every completion is pushed down, the answer step most: the bias the first
    runs of the #23 study met (the policy learned to stop before answering). Outcome supervision gives 0 here."""
    from policy.grpo import process_advantages

    k = 8
    rewards = torch.tensor([[1.0, 1.0, 0.0]] * k)
    ends = torch.tensor([[1, 3, 5]] * k)
    true_step = (1 / 3) / (48 / 9 / 23) ** 0.5
    wrong_step = -2 * true_step
    expected = torch.tensor([2 * true_step + wrong_step, true_step + wrong_step, wrong_step])
    torch.testing.assert_close(process_advantages(rewards, ends, k)[0], expected, atol=1e-3, rtol=0)
    assert group_advantages(torch.zeros(k), k).abs().max() == 0  # the same group under outcome supervision
