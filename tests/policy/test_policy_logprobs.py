"""Per-token log-probs: selective log-softmax against gather(log_softmax), and completion log-probs
of a left-padded batch against one unpadded forward pass per sequence."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from policy.logprobs import completion_logprobs, selective_log_softmax


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
        out = completion_logprobs(model, prompt_ids, prompt_mask, completion_ids, completion_mask,
                                  temperature=temperature, chunk_size=2)
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
