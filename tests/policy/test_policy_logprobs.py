"""Per-token log-probs: selective log-softmax against gather(log_softmax), and completion log-probs
of a left-padded batch against one unpadded forward pass per sequence."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close
from transformers import LlamaForCausalLM

from policy import logprobs
from policy.logprobs import completion_logprobs, prompt_order, prompt_packing, selective_log_softmax
from policy.model import enable_checkpointing


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_selective_log_softmax_matches_gather(dtype):
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(3, 5, 50, generator=g) * 4).to(dtype)
    ids = torch.randint(0, 50, (3, 5), generator=g)
    out = selective_log_softmax(logits, ids, chunk_rows=4)  # several chunks, one of them ragged
    reference_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    expected = torch.log_softmax(logits.to(reference_dtype), -1).gather(-1, ids[..., None]).squeeze(-1)
    assert out.dtype == reference_dtype and out.shape == (3, 5)
    assert_close(out, expected)


def naive_completion_logprobs(model, prompts, completions, temperature):
    """One unpadded forward per sequence, full log_softmax."""
    rows = []
    for prompt, completion in zip(prompts, completions):
        ids = torch.tensor([prompt + completion])
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1] / temperature
        rows.append(torch.log_softmax(logits.double(), -1).gather(-1, torch.tensor(completion)[:, None]).squeeze(-1))
    return rows


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_completion_logprobs_ignore_padding(tiny_model, temperature):
    model = tiny_model.double().eval()
    prompts = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14]]
    completions = [[20, 21, 3], [22, 23, 24, 25], [26]]
    P, T = 5, 4
    prompt_ids = torch.tensor([[0] * (P - len(p)) + p for p in prompts])
    prompt_mask = torch.tensor([[0] * (P - len(p)) + [1] * len(p) for p in prompts])
    completion_ids = torch.tensor([c + [0] * (T - len(c)) for c in completions])
    completion_mask = torch.tensor([[1] * len(c) + [0] * (T - len(c)) for c in completions])
    with torch.no_grad():
        out = completion_logprobs(
            model, prompt_ids, prompt_mask, completion_ids, completion_mask, temperature=temperature, chunk_size=2
        )
        expected = naive_completion_logprobs(model, prompts, completions, temperature)
    assert out.shape == (3, T)
    for row, (c, e) in enumerate(zip(completions, expected)):
        assert_close(out[row, : len(c)], e)


def test_completion_logprobs_carry_gradients(tiny_model):
    prompt_ids, prompt_mask = torch.tensor([[0, 5, 6]]), torch.tensor([[0, 1, 1]])
    completion_ids, completion_mask = torch.tensor([[7, 8]]), torch.tensor([[1, 1]])
    logps = completion_logprobs(tiny_model, prompt_ids, prompt_mask, completion_ids, completion_mask)
    logps.sum().backward()
    assert tiny_model.model.embed_tokens.weight.grad.abs().sum() > 0


def grouped_batch(prompts, completions):
    """Left-padded prompts and right-padded completions, as the sampler lays them out."""
    P, T = max(map(len, prompts)), max(map(len, completions))
    return (
        torch.tensor([[0] * (P - len(p)) + p for p in prompts]),
        torch.tensor([[0] * (P - len(p)) + [1] * len(p) for p in prompts]),
        torch.tensor([c + [0] * (T - len(c)) for c in completions]),
        torch.tensor([[1] * len(c) + [0] * (T - len(c)) for c in completions]),
    )


# Two prompts of different lengths, each continued by several completions (one of a single token),
# interleaved as a length-sorted micro-batch would hold them, plus one prompt seen once.
GROUP_PROMPTS = [[5, 6, 7, 8, 9], [10, 11], [5, 6, 7, 8, 9], [10, 11], [5, 6, 7, 8, 9], [10, 11], [12, 13, 14]]
GROUP_COMPLETIONS = [[20, 21, 3], [22, 23, 24, 25], [26], [27, 28], [29, 30, 31, 32, 33], [34], [35, 36]]


@pytest.mark.parametrize("temperature,chunk_size", [(1.0, None), (0.7, 3), (0.7, 1)])
def test_packed_logprobs_match_one_sequence_at_a_time(tiny_model, temperature, chunk_size):
    model = tiny_model.double().eval()
    batch = grouped_batch(GROUP_PROMPTS, GROUP_COMPLETIONS)
    with torch.no_grad():
        out = completion_logprobs(model, *batch, temperature=temperature, chunk_size=chunk_size, share_prompts=True)
        expected = naive_completion_logprobs(model, GROUP_PROMPTS, GROUP_COMPLETIONS, temperature)
    for row, (c, e) in enumerate(zip(GROUP_COMPLETIONS, expected)):
        assert_close(out[row, : len(c)], e)


def test_packing_skips_empty_completions(tiny_model):
    model = tiny_model.double().eval()
    prompts, completions = GROUP_PROMPTS[:3], [[20, 21], [22], []]
    batch = grouped_batch(prompts, completions)
    with torch.no_grad():
        out = completion_logprobs(model, *batch, temperature=0.7)
    expected = naive_completion_logprobs(model, prompts[:2], completions[:2], 0.7)
    for row in range(2):
        assert_close(out[row, : len(completions[row])], expected[row])
    assert out[2].abs().sum() == 0


def count_forward_rows(model):
    """Record (rows, columns) of every forward's input_ids, after the one-off packing check has run."""
    prompt_packing(model)
    seen = []
    model.register_forward_pre_hook(
        lambda _, args, kwargs: seen.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    return seen


def test_packing_runs_each_distinct_prompt_once_without_padding(tiny_model):
    seen = count_forward_rows(tiny_model)
    batch = grouped_batch(GROUP_PROMPTS, GROUP_COMPLETIONS)
    with torch.no_grad():
        completion_logprobs(tiny_model, *batch, share_prompts=True)
    # One sequence per distinct prompt, its completions after it: 5 + 3 + 1 + 5, 2 + 4 + 2 + 1, 3 + 2 tokens.
    assert seen == [(3, 14)]
    seen.clear()
    with torch.no_grad():
        completion_logprobs(tiny_model, *batch, share_prompts=False)
    assert seen == [(7, 10)]  # every prompt once per row, padded to 5 + 5 columns


def test_packing_keeps_chunks_to_whole_prompts(tiny_model):
    """Chunked by prompt, not by length: 3 rows per chunk cover the 3 + 3 + 1 rows of the prompts in turn."""
    seen = count_forward_rows(tiny_model)
    with torch.no_grad():
        completion_logprobs(tiny_model, *grouped_batch(GROUP_PROMPTS, GROUP_COMPLETIONS), chunk_size=3)
    assert seen == [(1, 14), (1, 9), (1, 5)]


def test_packed_gradients_equal_separate_sequence_gradients(make_tiny_model):
    batch = grouped_batch(GROUP_PROMPTS, GROUP_COMPLETIONS)
    weights = torch.linspace(-1, 1, batch[2].numel()).view(batch[2].shape).double()
    grads = []
    for share in (True, False):
        model = make_tiny_model(dtype=torch.float64)
        logps = completion_logprobs(model, *batch, temperature=0.7, share_prompts=share)
        (logps * batch[3] * weights).sum().backward()
        grads.append({name: p.grad for name, p in model.named_parameters()})
    # Llama's RMSNorm computes in float32 even in a float64 model, so gradients that are summed in another
    # order (once over the packed prompt rather than once per row) agree to float32 rounding.
    for name, grad in grads[1].items():
        assert grad.abs().sum() > 0, name
        assert_close(grads[0][name], grad, rtol=1e-6, atol=1e-6, msg=name)


def test_packing_works_under_gradient_checkpointing(make_tiny_model):
    batch = grouped_batch(GROUP_PROMPTS, GROUP_COMPLETIONS)
    grads = []
    for checkpointing in (True, False):
        model = make_tiny_model(dtype=torch.float64)
        if checkpointing:
            enable_checkpointing(model)
        model.train()
        seen = count_forward_rows(model)
        completion_logprobs(model, *batch, share_prompts=True).mul(batch[3]).sum().backward()
        assert seen[0] == (3, 14)  # one packed forward (recomputed in backward when checkpointing)
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert_close(grads[0], grads[1], rtol=1e-6, atol=1e-6)


def test_eager_attention_packs_too(tiny_model):
    model = tiny_model.eval()  # float32: eager attention in float64 turns left-padded rows into NaN
    model.set_attn_implementation("eager")
    batch = grouped_batch(GROUP_PROMPTS, GROUP_COMPLETIONS)
    assert prompt_packing(model)
    with torch.no_grad():
        out = completion_logprobs(model, *batch, temperature=0.7)
    for row, (c, e) in enumerate(
        zip(GROUP_COMPLETIONS, naive_completion_logprobs(model, GROUP_PROMPTS, GROUP_COMPLETIONS, 0.7))
    ):
        assert_close(out[row, : len(c)].double(), e, rtol=1e-5, atol=1e-5)


class MaskBlindLlama(LlamaForCausalLM):
    """Drops a custom 4-D mask for plain causal attention, as a model without 4-D mask support would."""

    def forward(self, *args, attention_mask=None, **kwargs):
        if attention_mask is not None and attention_mask.dim() == 4:
            attention_mask = None
        return super().forward(*args, attention_mask=attention_mask, **kwargs)


def test_a_model_that_ignores_4d_masks_is_not_packed(tiny_model):
    blind = MaskBlindLlama(tiny_model.config)
    blind.load_state_dict(tiny_model.state_dict())
    blind = blind.double().eval()
    assert not prompt_packing(blind)
    batch = grouped_batch(GROUP_PROMPTS, GROUP_COMPLETIONS)
    with torch.no_grad():
        out = completion_logprobs(blind, *batch, share_prompts=True)
    for row, (c, e) in enumerate(
        zip(GROUP_COMPLETIONS, naive_completion_logprobs(blind, GROUP_PROMPTS, GROUP_COMPLETIONS, 1.0))
    ):
        assert_close(out[row, : len(c)], e)


def test_prompt_order_groups_rows_by_first_appearance():
    prompt_ids = torch.tensor([[0, 7], [5, 6], [0, 7], [5, 6], [8, 9]])
    prompt_mask = torch.tensor([[0, 1], [1, 1], [0, 1], [1, 1], [1, 1]])
    assert prompt_order(prompt_ids, prompt_mask).tolist() == [0, 2, 1, 3, 4]
    # Same ids, different padding: different prompts.
    assert prompt_order(torch.tensor([[0, 7], [0, 7], [0, 7]]), torch.tensor([[1, 1], [0, 1], [1, 1]])).tolist() == [
        0,
        2,
        1,
    ]


def test_long_groups_are_cut_into_several_packs(tiny_model, monkeypatch):
    monkeypatch.setattr(logprobs, "PACK_TOKENS", 8)
    model = tiny_model.double().eval()
    seen = count_forward_rows(model)
    batch = grouped_batch(GROUP_PROMPTS, GROUP_COMPLETIONS)
    with torch.no_grad():
        out = completion_logprobs(model, *batch, temperature=0.7)
    # Prompt [5..9] (5 tokens) + completions of 3, 1, 5 tokens: 5+3 (+1 would pass 8), 5+1, 5+5 (alone: always allowed).
    assert seen == [(6, 10)]
    for row, (c, e) in enumerate(
        zip(GROUP_COMPLETIONS, naive_completion_logprobs(model, GROUP_PROMPTS, GROUP_COMPLETIONS, 0.7))
    ):
        assert_close(out[row, : len(c)], e)
