"""GRPOUpdater: gradient accumulation, old/ref log-prob bookkeeping, NaN safety, checkpoints, and a
real learning test where a tiny random policy learns to emit a rewarded character."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch.testing import assert_close

from policy.grpo import group_advantages
from policy.model import make_reference
from policy.sampling import SamplingConfig, sample_groups
from policy.update import GRPOConfig, GRPOUpdater, lr_factor

PROMPTS = ["a", "bc", "def", "g"]


@pytest.fixture
def rollouts(tiny_model, tokenizer):
    return sample_groups(tiny_model, tokenizer, PROMPTS, 4, SamplingConfig(max_new_tokens=7), seed=0)


def advantages_for(rollouts):
    rewards = torch.tensor([float(len(t) % 3) for t in rollouts.texts])
    return group_advantages(rewards, rollouts.group_size)


@pytest.mark.parametrize("loss_agg", ["seq_mean", "token_mean"])
def test_gradient_accumulation_equals_one_big_batch(make_tiny_model, tokenizer, loss_agg):
    model = make_tiny_model(dtype=torch.float64)
    rollouts = sample_groups(model, tokenizer, PROMPTS, 4, SamplingConfig(max_new_tokens=7), seed=0)
    advantages, rows = advantages_for(rollouts), torch.arange(16)
    grads = []
    for micro in (16, 3):  # 3 does not divide 16: the ragged last micro-batch must weigh right too
        model.zero_grad()
        updater = GRPOUpdater(model, GRPOConfig(beta=0.0, micro_batch_size=micro, loss_agg=loss_agg))
        metrics = updater.accumulate_gradients(rollouts, rows, advantages)
        grads.append(([p.grad.clone() for p in model.parameters()], metrics))
    for full, accumulated in zip(grads[0][0], grads[1][0]):
        assert_close(accumulated, full)
    assert grads[1][1]["policy/loss"] == pytest.approx(grads[0][1]["policy/loss"], abs=1e-12)


def test_packed_micro_batches_hold_whole_prompts_and_match_unpacked(make_tiny_model, tokenizer):
    grads, shapes = [], []
    for share in (True, False):
        model = make_tiny_model(dtype=torch.float64)
        rollouts = sample_groups(model, tokenizer, PROMPTS, 4, SamplingConfig(max_new_tokens=7), seed=0)
        rollouts = rollouts.select(torch.randperm(16, generator=torch.Generator().manual_seed(0)))  # groups shuffled
        updater = GRPOUpdater(model, GRPOConfig(beta=0.0, micro_batch_size=4, share_prompts=share))
        updater.accumulate_gradients(rollouts, torch.arange(16), advantages_for(rollouts))  # runs the packing check
        model.zero_grad()
        seen = []
        model.register_forward_pre_hook(lambda _, a, kw: seen.append(kw["input_ids"].shape[0]), with_kwargs=True)
        updater.accumulate_gradients(rollouts, torch.arange(16), advantages_for(rollouts))
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        shapes.append(seen)
    assert shapes == [[1, 1, 1, 1], [4, 4, 4, 4]]  # packed: each micro-batch of 4 is one prompt's group
    assert_close(grads[0], grads[1], rtol=1e-6, atol=1e-7)  # float32 RMSNorm inside a float64 model


def test_single_step_skips_old_logprobs_and_is_on_policy(tiny_model, rollouts):
    updater = GRPOUpdater(tiny_model, GRPOConfig(beta=0.0, lr=1e-2))
    calls = []
    original = updater._logps
    updater._logps = lambda model, r: calls.append(model) or original(model, r)
    metrics = updater.step(rollouts, advantages_for(rollouts))
    assert calls == []  # mu = 1, one mini-batch: no old log-probs
    assert metrics["policy/ratio_mean"] == 1.0 and metrics["policy/clip_ratio/region"] == 0.0
    assert metrics["policy/optimizer_steps"] == 1 and metrics["policy/skipped"] == 0


def test_several_steps_use_old_and_reference_logprobs(tiny_model, rollouts):
    reference = make_reference(tiny_model)
    cfg = GRPOConfig(beta=0.1, lr=3e-2, num_iterations=2, mini_batch_size=8, micro_batch_size=4)
    updater = GRPOUpdater(tiny_model, cfg, ref_model=reference)
    calls = []
    original = updater._logps
    updater._logps = lambda model, r: calls.append(model) or original(model, r)
    metrics = updater.step(rollouts, advantages_for(rollouts))
    assert calls == [tiny_model, reference]  # once each, before the first pass
    assert metrics["policy/optimizer_steps"] == 4  # 2 passes x 2 mini-batches
    # After the first optimizer step the policy has moved away from both old and reference.
    assert metrics["policy/ratio_mean"] != 1.0 and metrics["policy/kl"] > 0
    assert all(not p.requires_grad for p in reference.parameters()) and not reference.training


def test_non_finite_loss_skips_the_step(tiny_model, rollouts):
    updater = GRPOUpdater(tiny_model, GRPOConfig(beta=0.0, lr=1e-2))
    before = [p.detach().clone() for p in tiny_model.parameters()]
    advantages = advantages_for(rollouts)
    advantages[0] = float("nan")
    metrics = updater.step(rollouts, advantages)
    assert metrics["policy/skipped"] == 1 and updater.optimizer_steps == 0
    assert all(torch.equal(b, p) for b, p in zip(before, tiny_model.parameters()))
    assert all(p.grad is None for p in tiny_model.parameters())


def test_lr_schedule_by_hand():
    # Warm-up over 4 steps: (s + 1) / 5; then linear decay over the remaining 10 steps to 0.
    assert [lr_factor(s, 4, 14, "linear") for s in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert lr_factor(4, 4, 14, "linear") == 1.0 and lr_factor(9, 4, 14, "linear") == pytest.approx(0.5)
    assert lr_factor(9, 4, 14, "cosine") == pytest.approx(0.5) and lr_factor(14, 4, 14, "cosine") == pytest.approx(0.0)
    assert lr_factor(100, 0, 0, "constant") == 1.0


def test_state_dict_round_trip_resumes_identically(make_tiny_model, tokenizer):
    cfg = GRPOConfig(beta=0.0, lr=1e-2, lr_schedule="linear", warmup_steps=1, total_steps=10, mini_batch_size=8)
    model_a, model_b = make_tiny_model(), make_tiny_model()
    rollouts = sample_groups(model_a, tokenizer, PROMPTS, 4, SamplingConfig(max_new_tokens=7), seed=0)
    advantages = advantages_for(rollouts)
    updater_a = GRPOUpdater(model_a, cfg)
    updater_a.step(rollouts, advantages)
    model_b.load_state_dict(model_a.state_dict())
    updater_b = GRPOUpdater(model_b, cfg)
    buffer = io.BytesIO()  # through bytes, as a checkpoint would: state_dict() shares live tensors
    torch.save(updater_a.state_dict(), buffer)
    buffer.seek(0)
    updater_b.load_state_dict(torch.load(buffer, weights_only=True))
    metrics_a, metrics_b = updater_a.step(rollouts, advantages), updater_b.step(rollouts, advantages)
    assert metrics_a == metrics_b and updater_b.optimizer_steps == 4
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(a, b)


def test_accelerator_single_process_matches_plain(make_tiny_model, tokenizer):
    from accelerate import Accelerator

    cfg = GRPOConfig(beta=0.0, lr=1e-2, micro_batch_size=4)
    plain, accelerated = make_tiny_model(), make_tiny_model()
    rollouts = sample_groups(plain, tokenizer, PROMPTS, 4, SamplingConfig(max_new_tokens=7), seed=0)
    advantages = advantages_for(rollouts)
    GRPOUpdater(plain, cfg).step(rollouts, advantages)
    GRPOUpdater(accelerated, cfg, accelerator=Accelerator(cpu=True)).step(rollouts, advantages)
    for a, b in zip(plain.parameters(), accelerated.parameters()):
        assert_close(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": 0.0}, "lr must be > 0"),
        ({"epsilon_low": 1.0}, "epsilon_low must be in"),
        ({"loss_agg": "sum"}, "loss_agg must be one of"),
        ({"mini_batch_size": 4, "micro_batch_size": 8}, "must be 0 \\(whole batch\\) or >= micro_batch_size"),
        ({"lr_schedule": "cosine", "warmup_steps": 5}, "needs total_steps > warmup_steps"),
        ({"temperature": 0.0}, "temperature must be > 0"),
    ],
)
def test_config_errors_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GRPOConfig(**kwargs)


def test_step_input_errors(tiny_model, rollouts):
    with pytest.raises(ValueError, match="needs ref_model"):
        GRPOUpdater(tiny_model, GRPOConfig(beta=0.04))
    updater = GRPOUpdater(tiny_model, GRPOConfig(beta=0.0, mini_batch_size=10))
    with pytest.raises(ValueError, match="not divisible by mini_batch_size=10"):
        updater.step(rollouts, advantages_for(rollouts))
    with pytest.raises(ValueError, match="advantages must have shape \\(16,\\) or"):
        updater.step(rollouts, torch.zeros(15))


def test_grpo_raises_a_toy_reward(tiny_model, tokenizer):
    """Reward 1 when the completion contains 'z' (~6% of random 6-character completions at first)."""
    reference = make_reference(tiny_model)
    cfg = GRPOConfig(lr=1e-2, beta=0.01, micro_batch_size=32)
    updater = GRPOUpdater(tiny_model, cfg, ref_model=reference)
    sampling = SamplingConfig(max_new_tokens=6)
    history = []
    for step in range(30):
        rollouts = sample_groups(tiny_model, tokenizer, PROMPTS, 8, sampling, seed=step)
        rewards = torch.tensor([float("z" in text) for text in rollouts.texts])
        history.append(rewards.mean().item())
        metrics = updater.step(rollouts, group_advantages(rewards, 8))
        assert all(math.isfinite(v) for v in metrics.values())
    first, last = sum(history[:5]) / 5, sum(history[-5:]) / 5
    assert last >= 0.5 and last >= first + 0.3, history


@pytest.mark.parametrize("loss_agg", ["seq_mean", "token_mean"])
def test_masked_truncated_completions_leave_the_loss(make_tiny_model, tokenizer, loss_agg):
    from policy.update import mask_truncated

    model = make_tiny_model(dtype=torch.float64)
    rollouts = sample_groups(model, tokenizer, PROMPTS, 4, SamplingConfig(max_new_tokens=4), seed=0)
    truncated = rollouts.truncated.bool()
    assert truncated.any() and (~truncated).any(), truncated  # both kinds, or the test says nothing
    masked = mask_truncated(rollouts)
    assert masked.completion_mask[truncated].sum() == 0
    assert torch.equal(masked.completion_mask[~truncated], rollouts.completion_mask[~truncated])
    advantages = torch.randn(len(rollouts), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    kept = torch.nonzero(~truncated).flatten()
    grads = []
    for batch, adv in ((masked, advantages), (rollouts.select(kept), advantages[kept])):
        model.zero_grad()
        updater = GRPOUpdater(model, GRPOConfig(beta=0.0, micro_batch_size=5, loss_agg=loss_agg))
        updater.accumulate_gradients(batch, torch.arange(len(batch)), adv)
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert_close(grads[0], grads[1])  # masked rows weigh exactly as if they were not in the batch
    updater = GRPOUpdater(model, GRPOConfig(beta=0.0, mask_truncated_completions=True))
    assert updater.step(rollouts, advantages.float())["policy/truncated_masked"] == float(truncated.sum())


def test_per_token_advantages_constant_along_a_completion_equal_per_completion_ones(make_tiny_model, tokenizer):
    """Process supervision's (N, T) advantages go through the same update; constant rows are outcome supervision."""
    params = []
    for per_token in (False, True):
        model = make_tiny_model(dtype=torch.float64)
        rollouts = sample_groups(model, tokenizer, PROMPTS, 4, SamplingConfig(max_new_tokens=7), seed=0)
        advantages = advantages_for(rollouts)
        if per_token:
            advantages = advantages[:, None].expand_as(rollouts.completion_ids).clone()
        reference = make_reference(make_tiny_model(dtype=torch.float64))
        GRPOUpdater(model, GRPOConfig(beta=0.04, lr=1e-2, mini_batch_size=8), ref_model=reference).step(
            rollouts, advantages
        )
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert_close(params[0], params[1])
    assert not torch.equal(
        params[0], torch.cat([p.flatten() for p in make_tiny_model(dtype=torch.float64).parameters()])
    )
    updater = GRPOUpdater(make_tiny_model(), GRPOConfig(beta=0.0))
    rollouts = sample_groups(updater.model, tokenizer, PROMPTS, 4, SamplingConfig(max_new_tokens=7), seed=0)
    with pytest.raises(ValueError, match=r"advantages must have shape \(16,\) or \(16, \d+\)"):
        updater.step(rollouts, torch.zeros(16, 3))
