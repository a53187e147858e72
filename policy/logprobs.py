"""Per-token log-probs of completion tokens under a causal LM.

The full-vocabulary log-softmax of every position is never built: `selective_log_softmax` takes
the chosen token's logit and subtracts a logsumexp computed a chunk of rows at a time, so the
extra memory is one chunk of (rows, vocab) instead of a second (N, T, vocab) tensor. The model
itself only returns logits for the completion positions (`logits_to_keep`), and
`completion_logprobs` runs it `chunk_size` rows at a time when no gradient is needed.

GRPO scores k completions of each prompt, so a batch holds every prompt k times, and length-sorted
rows still pad. With `share_prompts` (the default) a chunk is *packed*: each distinct prompt is one
sequence, its completions laid end to end after it, and a 4-D attention mask lets every completion
see the prompt and its own earlier tokens only, at the positions it has in its own sequence. The
prompt runs once, no token is padding, and the log-probs are those of the separate sequences (to
float rounding); on the embedded model that is ~30% less compute than length-sorted rows
(benchmarks/bench_vs_trl.py). Models that do not honour a custom 4-D mask (checked once per model on
a tiny input, see `prompt_packing`) use the separate sequences.
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
    chosen = flat_logits.gather(-1, ids.reshape(-1, 1)).squeeze(-1).to(out_dtype)
    return (chosen - logsumexp_rows(flat_logits, chunk_rows)).view(ids.shape)


def logsumexp_rows(logits: Tensor, chunk_rows: int = 1024) -> Tensor:
    """logsumexp over the last dimension in float32 (float64 stays float64), a chunk of rows at a time
    so the temporaries are one chunk of (rows, V), not another copy of `logits`."""
    out_dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    flat = logits.reshape(-1, logits.shape[-1])
    return torch.cat([chunk.to(out_dtype).logsumexp(-1) for chunk in flat.split(chunk_rows)]).view(logits.shape[:-1])


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


PACK_TOKENS = 2048  # longest packed sequence: more completions of a prompt start a new one (attention is quadratic)


def _distinct_prompts(prompt_ids: Tensor, prompt_mask: Tensor) -> Tensor:
    """(N,) index of each row's prompt among the distinct ones; the same ids with other padding differ."""
    return torch.unique(torch.cat([prompt_ids, prompt_mask.to(prompt_ids.dtype)], 1), dim=0, return_inverse=True)[1]


def _packed_chunk_logprobs(
    model: PreTrainedModel,
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    completion_ids: Tensor,
    completion_mask: Tensor,
    temperature: float,
) -> Tensor:
    """Log-probs of one chunk, packed: each distinct prompt once, followed by its completions (module
    docstring). completion_ids/mask: (n, T), already trimmed to the chunk's longest completion."""
    device, rows = completion_ids.device, completion_ids.shape[0]
    inverse = _distinct_prompts(prompt_ids, prompt_mask)
    lengths = completion_mask.sum(dim=1).tolist()
    by_prompt: dict[int, list[int]] = {}
    for row, prompt in enumerate(inverse.tolist()):
        by_prompt.setdefault(prompt, []).append(row)
    packs: list[tuple[Tensor, list[int]]] = []  # (prompt tokens, rows whose completions follow it)
    for members in by_prompt.values():
        prompt = prompt_ids[members[0]][prompt_mask[members[0]].bool()]
        pack: list[int] = []
        for row in members:
            if pack and len(prompt) + sum(lengths[r] for r in pack) + lengths[row] > PACK_TOKENS:
                packs.append((prompt, pack))
                pack = []
            pack.append(row)
        packs.append((prompt, pack))
    width = max(len(prompt) + sum(lengths[r] for r in pack) for prompt, pack in packs)
    input_ids = completion_ids.new_zeros(len(packs), width)
    positions = torch.zeros(len(packs), width, dtype=torch.long, device=device)
    segment = torch.full((len(packs), width), -2, dtype=torch.long, device=device)  # -1 prompt, -2 padding
    gather_pack, gather_position, gather_row, gather_column = [], [], [], []  # one entry per completion token
    for index, (prompt, pack) in enumerate(packs):
        at = len(prompt)
        input_ids[index, :at], positions[index, :at], segment[index, :at] = prompt, torch.arange(at, device=device), -1
        for row in pack:
            n = lengths[row]
            if n == 0:  # an empty completion has no log-probs
                continue
            span = slice(at, at + n)
            input_ids[index, span] = completion_ids[row, :n]
            positions[index, span] = len(prompt) + torch.arange(n, device=device)  # as in the row's own sequence
            segment[index, span] = row
            # Token 0 is predicted by the prompt's last position, token t by the completion's token t - 1.
            gather_position += [len(prompt) - 1] + list(range(at, at + n - 1))
            gather_pack += [index] * n
            gather_row += [row] * n
            gather_column += list(range(n))
            at += n
    query, key = segment[:, :, None], segment[:, None, :]
    causal = torch.ones(width, width, dtype=torch.bool, device=device).tril()
    allowed = causal & (key != -2) & ((key == -1) | (key == query))
    allowed |= torch.eye(width, dtype=torch.bool, device=device)  # padding attends to itself: no empty softmax row
    dtype = next(model.parameters()).dtype
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill_(~allowed, torch.finfo(dtype).min)
    first = min(len(prompt) for prompt, _ in packs) - 1  # no logits are needed before this position
    logits = model(
        input_ids=input_ids,
        attention_mask=mask[:, None],
        position_ids=positions,
        use_cache=False,
        logits_to_keep=width - first,
    ).logits
    if temperature != 1.0:
        logits = logits / temperature
    pack_index = torch.tensor(gather_pack, dtype=torch.long, device=device)
    position = torch.tensor(gather_position, dtype=torch.long, device=device) - first
    row_index = torch.tensor(gather_row, dtype=torch.long, device=device)
    column = torch.tensor(gather_column, dtype=torch.long, device=device)
    out_dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    chosen = logits[pack_index, position, completion_ids[row_index, column]].to(out_dtype)
    logps = chosen - logsumexp_rows(logits)[pack_index, position]
    out = torch.zeros(rows, completion_ids.shape[1], dtype=out_dtype, device=device)
    return out.index_put((row_index, column), logps)


def _tiny_check_batch(vocab_size: int, device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Two prompts (one left-padded), two completions each of different lengths: a model that ignored
    the packed mask would let the second completion of a prompt see the first."""
    prompt_ids = torch.tensor([[6, 1, 2], [0, 4, 5], [6, 1, 2], [0, 4, 5]], device=device) % vocab_size
    prompt_mask = torch.tensor([[1, 1, 1], [0, 1, 1], [1, 1, 1], [0, 1, 1]], device=device)
    completion_ids = torch.tensor([[1, 2, 3, 7], [4, 5, 0, 7], [3, 2, 1, 7], [5, 4, 0, 7]], device=device) % vocab_size
    completion_mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1], [1, 0, 0, 0]], device=device)
    return prompt_ids, prompt_mask, completion_ids, completion_mask


def prompt_packing(model: PreTrainedModel) -> bool:
    """Whether `completion_logprobs` may pack this model's chunks: its attention takes a custom 4-D mask
    (sdpa or eager) and, checked once on a tiny batch, packed log-probs equal separate sequences.
    Wrappers (DDP, DeepSpeed) are looked through; every process must call this (the check runs forwards)."""
    inner = getattr(model, "module", model)
    verdict = getattr(inner, "_packed_logprobs_ok", None)
    if verdict is None:
        config = getattr(inner, "config", None)
        verdict = getattr(config, "_attn_implementation", None) in ("sdpa", "eager") and _packing_agrees(model, config)
        inner._packed_logprobs_ok = verdict
    return verdict


@torch.no_grad()
def _packing_agrees(model: PreTrainedModel, config) -> bool:
    device = next(model.parameters()).device
    batch = _tiny_check_batch(config.vocab_size, device)
    was_training = model.training
    model.eval()
    try:
        packed = _packed_chunk_logprobs(model, *batch, 1.0)
        separate = _chunk_logprobs(
            model, torch.cat([batch[0], batch[2]], 1), torch.cat([batch[1], batch[3]], 1), batch[2], 1.0
        )
    finally:
        model.train(was_training)
    mask = batch[3].bool()
    tolerance = 1e-3 if next(model.parameters()).dtype in (torch.float32, torch.float64) else 5e-2
    return bool(torch.allclose(packed[mask], separate[mask], atol=tolerance, rtol=0))


def prompt_order(prompt_ids: Tensor, prompt_mask: Tensor) -> Tensor:
    """Row order that keeps the rows of each distinct prompt together (prompts in order of first
    appearance), so that chunks cut from it pack few prompts."""
    inverse = _distinct_prompts(prompt_ids, prompt_mask)
    first_seen = torch.full((int(inverse.max()) + 1,), len(inverse), dtype=torch.long, device=inverse.device)
    first_seen = first_seen.scatter_reduce(0, inverse, torch.arange(len(inverse), device=inverse.device), "amin")
    return torch.argsort(first_seen[inverse], stable=True)


def completion_logprobs(
    model: PreTrainedModel,
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    completion_ids: Tensor,
    completion_mask: Tensor,
    *,
    temperature: float = 1.0,
    chunk_size: int | None = None,
    share_prompts: bool = True,
) -> Tensor:
    """Log-probs of `completion_ids` given the (left-padded) prompts.

    prompt_ids, prompt_mask: (N, P); completion_ids, completion_mask: (N, T).
    temperature: divide the logits by it, as the sampler did, so ratios compare like with like.
    chunk_size: rows per forward pass (None: all at once); use it under no_grad to bound memory,
    while under grad the caller's micro-batch is the bound.
    share_prompts: pack each chunk, every distinct prompt once (module docstring), when the model
    allows it (`prompt_packing`); rows are then chunked by prompt rather than by length.
    Returns (N, T) float32 (float64 for float64 models); entries where completion_mask is 0 are
    meaningless and must be masked by the caller.
    """
    rows, width = completion_ids.shape
    chunk_size = chunk_size or rows
    lengths = completion_mask.sum(dim=1)
    packed = share_prompts and prompt_packing(model)
    # Chunks hold whole prompts when packing, else rows of similar length, so that each pads little.
    order = prompt_order(prompt_ids, prompt_mask) if packed else torch.argsort(lengths, stable=True)
    out = None
    for start in range(0, rows, chunk_size):
        part = order[start : start + chunk_size]
        # Compute only the columns this chunk uses: no all-padding prompt columns on the left, no
        # completion columns after its longest completion. Positions come from the mask, and a causal
        # model cannot see the dropped right-hand columns, so the kept log-probs are unchanged.
        left = int(prompt_mask[part].any(dim=0).long().argmax())
        right = max(1, int(lengths[part].max()))
        if packed:
            logps = _packed_chunk_logprobs(
                model,
                prompt_ids[part, left:],
                prompt_mask[part, left:],
                completion_ids[part, :right],
                completion_mask[part, :right],
                temperature,
            )
        else:
            input_ids = torch.cat([prompt_ids[part, left:], completion_ids[part, :right]], dim=1)
            # The completion mask also hides padding after the stop token; as it sits at the right end
            # of a causal sequence it cannot influence any kept position anyway.
            attention_mask = torch.cat([prompt_mask[part, left:], completion_mask[part, :right]], dim=1)
            logps = _chunk_logprobs(
                model, input_ids, attention_mask.to(prompt_mask.dtype), completion_ids[part, :right], temperature
            )
        if out is None:  # zeros past each chunk's longest row: masked positions are meaningless anyway
            out = logps.new_zeros(rows, width)
        out[part, :right] = logps
    return out
