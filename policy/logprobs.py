"""Per-token log-probs of completion tokens under a causal LM.

The full-vocabulary log-softmax of every position is never built: `selective_log_softmax` takes
the chosen token's logit and subtracts a logsumexp computed a chunk of rows at a time, so the
extra memory is one chunk of (rows, vocab) instead of a second (N, T, vocab) tensor. The model
itself only returns logits for the completion positions (`logits_to_keep`), and
`completion_logprobs` runs it `chunk_size` rows at a time when no gradient is needed.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import PreTrainedModel


def selective_log_softmax(logits: Tensor, ids: Tensor, chunk_rows: int = 1024) -> Tensor:
    """log_softmax(logits)[..., ids], equal to `gather(log_softmax(logits), -1, ids)`.

    logits: (..., V); ids: (...) integer. Returns (...) in float32 (float64 stays float64): half
    precision logsumexp loses too much for importance ratios, so chunks are upcast first.
    """
    out_dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_ids = ids.reshape(-1, 1)
    chosen = flat_logits.gather(-1, flat_ids).squeeze(-1).to(out_dtype)
    lse = torch.cat([chunk.to(out_dtype).logsumexp(-1) for chunk in flat_logits.split(chunk_rows)])
    return (chosen - lse).view(ids.shape)


def sequence_positions(attention_mask: Tensor) -> Tensor:
    """Position ids that ignore left padding: 0 at each row's first real token."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def _chunk_logprobs(
    model: PreTrainedModel,
    input_ids: Tensor,
    attention_mask: Tensor,
    completion_ids: Tensor,
    temperature: float,
) -> Tensor:
    num_completion = completion_ids.shape[1]
    # Logits at position t predict token t + 1: keep the T positions that predict the completion.
    logits = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=sequence_positions(attention_mask),
        use_cache=False,
        logits_to_keep=num_completion + 1,
    ).logits[:, :-1]
    if temperature != 1.0:
        logits = logits / temperature
    return selective_log_softmax(logits, completion_ids)


def completion_logprobs(
    model: PreTrainedModel,
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    completion_ids: Tensor,
    completion_mask: Tensor,
    *,
    temperature: float = 1.0,
    chunk_size: int | None = None,
) -> Tensor:
    """Log-probs of `completion_ids` given the (left-padded) prompts.

    prompt_ids, prompt_mask: (N, P); completion_ids, completion_mask: (N, T).
    temperature: divide the logits by it, as the sampler did, so ratios compare like with like.
    chunk_size: rows per forward pass (None: all at once); use it under no_grad to bound memory,
    while under grad the caller's micro-batch is the bound.
    Returns (N, T) float32 (float64 for float64 models); entries where completion_mask is 0 are
    meaningless and must be masked by the caller.
    """
    rows, width = completion_ids.shape
    chunk_size = chunk_size or rows
    lengths = completion_mask.sum(dim=1)
    order = torch.argsort(lengths, stable=True)  # similar lengths share a chunk, so each pads little
    out = None
    for start in range(0, rows, chunk_size):
        part = order[start : start + chunk_size]
        # Compute only the columns this chunk uses: no all-padding prompt columns on the left, no
        # completion columns after its longest completion. Positions come from the mask, and a causal
        # model cannot see the dropped right-hand columns, so the kept log-probs are unchanged.
        left = int(prompt_mask[part].any(dim=0).long().argmax())
        right = max(1, int(lengths[part].max()))
        input_ids = torch.cat([prompt_ids[part, left:], completion_ids[part, :right]], dim=1)
        # The completion mask also hides padding after the stop token; as it sits at the right end
        # of a causal sequence it cannot influence any kept position anyway.
        attention_mask = torch.cat([prompt_mask[part, left:], completion_mask[part, :right]], dim=1)
        logps = _chunk_logprobs(model, input_ids, attention_mask.to(prompt_mask.dtype),
                                completion_ids[part, :right], temperature)
        if out is None:  # zeros past each chunk's longest row: masked positions are meaningless anyway
            out = logps.new_zeros(rows, width)
        out[part, :right] = logps
    return out
