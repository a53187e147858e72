"""Sample `group_size` completions for each of B prompts: the rollouts GRPO learns from.

Our own decoding loop over the model's forward (KV cache, no grad) rather than `generate`,
because it measures faster on CPU (benchmarks/bench_sampling.py) for three reasons:
- each prompt is prefilled once and its KV cache expanded to the k group members, where
  `generate(num_return_sequences=k)` prefills k identical copies;
- a completion that has stopped leaves the batch, so later steps only compute live rows;
- no logits-processor stack: temperature, top-k and top-p are three tensor ops.
Sub-batches of at most `max_batch_size` rows bound the memory (B*k = 256 fits in a few GiB).

    from policy.sampling import SamplingConfig, sample_groups, user_message
    rollouts = sample_groups(model, tokenizer, [user_message("What is 2 + 3?")], 8,
                             SamplingConfig(max_new_tokens=128), seed=0)
    # 4 continuations of a partial answer (Monte-Carlo step labels, orchestration.mc_labels):
    more = sample_continuations(model, tokenizer, [user_message("What is 2 + 3?")], ["2 + 3 = 5\\n"], 4,
                                SamplingConfig(max_new_tokens=128), seed=0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from policy.logprobs import sequence_positions

Prompt = str | list[dict[str, str]]


@dataclass
class SamplingConfig:
    max_new_tokens: int = field(
        default=128, metadata={"help": "completion length limit; longer ones are cut and flagged truncated"}
    )
    temperature: float = field(default=1.0, metadata={"help": "softmax temperature; 0 means greedy decoding"})
    top_p: float = field(
        default=1.0,
        metadata={"help": "nucleus sampling: keep the smallest token set with this much probability (1 = off)"},
    )
    top_k: int = field(default=0, metadata={"help": "keep only the k most likely tokens (0 = off)"})
    max_batch_size: int = field(
        default=64, metadata={"help": "sequences decoded together (sub-batch bound on memory); groups are never split"}
    )
    stop_token_ids: tuple[int, ...] = field(
        default=(), metadata={"help": "token ids that end a completion, besides the tokenizer's and model's EOS"}
    )

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        self.stop_token_ids = tuple(int(i) for i in self.stop_token_ids)


@dataclass
class Rollouts:
    """N = B * group_size completions, group-contiguous: rows [i*k, (i+1)*k) answer prompt i."""

    prompt_ids: Tensor  # (N, P) left-padded, each prompt repeated group_size times
    prompt_mask: Tensor  # (N, P) 1 on prompt tokens
    completion_ids: Tensor  # (N, T) right-padded with the pad token
    completion_mask: Tensor  # (N, T) 1 up to and including the stop token
    texts: list[str]  # decoded completions, special tokens removed
    truncated: Tensor  # (N,) bool: hit max_new_tokens without a stop token
    group_size: int

    def __len__(self) -> int:
        return self.completion_ids.shape[0]

    def select(self, rows: Tensor) -> Rollouts:
        """The rollouts at `rows` (1-D long tensor); group_size is kept but groups may be split."""
        rows = rows.to(self.completion_ids.device)
        return Rollouts(
            self.prompt_ids[rows],
            self.prompt_mask[rows],
            self.completion_ids[rows],
            self.completion_mask[rows],
            [self.texts[i] for i in rows.tolist()],
            self.truncated[rows],
            self.group_size,
        )


def user_message(text: str, system: str | None = None) -> list[dict[str, str]]:
    """Wrap a plain question as a chat prompt (for instruct models)."""
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]


def chat_prompts(
    tokenizer: PreTrainedTokenizerBase, prompts: list[Prompt], use_chat_template: bool = True
) -> list[Prompt]:
    """Plain-text prompts wrapped as a user message when `use_chat_template` and the tokenizer has a chat
    template (what the loop samples from); chat prompts pass as they are."""
    chat = use_chat_template and getattr(tokenizer, "chat_template", None)
    return [user_message(p) if chat and isinstance(p, str) else p for p in prompts]


def encode_prompt(tokenizer: PreTrainedTokenizerBase, prompt: Prompt) -> list[int]:
    """Token ids of one prompt. Text is used as-is (with the tokenizer's BOS, if any); chat
    messages go through the chat template with the assistant turn opened, and no extra BOS
    since templates write their own."""
    if isinstance(prompt, str):
        return tokenizer(prompt, add_special_tokens=True)["input_ids"]
    text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def stop_token_ids(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, extra: tuple[int, ...] = ()
) -> list[int]:
    """EOS / end-of-turn ids from the generation config and tokenizer, plus `extra`."""
    ids = set(extra)
    for eos in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        ids.update([eos] if isinstance(eos, int) else (eos or []))
    if not ids:
        raise ValueError("No stop token: the tokenizer has no EOS; pass SamplingConfig(stop_token_ids=...).")
    return sorted(ids)


def sample_next(
    logits: Tensor, temperature: float, top_k: int, top_p: float, generator: torch.Generator | None
) -> Tensor:
    """One token per row. logits: (n, V) float. Returns (n,) long. Order as in HF: temperature,
    then top-k, then top-p."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the ones before it already reach top_p (the most likely always stays).
        drop_sorted = probs.cumsum(dim=-1) - probs >= top_p
        logits = logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))
    # Inverse-CDF draw: one uniform per row and a binary search. torch.multinomial draws an
    # exponential per vocabulary entry, ~8x slower at 128 x 49k on CPU (a large part of a decode step).
    cdf = logits.softmax(dim=-1).cumsum(dim=-1)
    u = torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device, dtype=cdf.dtype) * cdf[:, -1:]
    # right=True skips zero-probability tokens: their CDF step is empty.
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp(max=cdf.shape[-1] - 1)


def cache_name(output) -> str:
    """The name of the KV cache in a forward's output, which is also the argument that takes it back.
    transformers renamed `past_key_values` to `cache` after 5.18 (5.24 has it): the old name still
    works there but warns on every call, and goes in 5.40; 5.18 and before know only `past_key_values`.
    The output says which one this model speaks, whatever wraps its forward."""
    return "cache" if "cache" in output.keys() else "past_key_values"


def _prefill(model, prompt_ids: Tensor, prompt_mask: Tensor, group_size: int):
    """Run each prompt once, then expand its KV cache and next-token logits to its k group members."""
    positions = sequence_positions(prompt_mask)
    out = model(
        input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=positions, use_cache=True, logits_to_keep=1
    )
    name = cache_name(out)
    cache = out[name]
    cache.batch_repeat_interleave(group_size)
    logits = out.logits[:, -1].float().repeat_interleave(group_size, dim=0)
    next_position = positions[:, -1:].repeat_interleave(group_size, dim=0) + 1
    return cache, name, logits, prompt_mask.repeat_interleave(group_size, dim=0), next_position


@torch.no_grad()
def _decode(model, prompt_ids, prompt_mask, group_size, cfg, stop_ids, pad_id, generator):
    """Sample group_size completions per row of prompt_ids (b, P). Returns completion ids
    (b*k, T) padded with pad_id, lengths (b*k,) counting the stop token, and truncated (b*k,)."""
    cache, name, logits, attention, next_position = _prefill(model, prompt_ids, prompt_mask, group_size)
    rows, device = logits.shape[0], logits.device
    tokens = torch.full((rows, cfg.max_new_tokens), pad_id, dtype=torch.long, device=device)
    lengths = torch.full((rows,), cfg.max_new_tokens, dtype=torch.long, device=device)
    stopped = torch.zeros(rows, dtype=torch.bool, device=device)
    live = torch.arange(rows, device=device)  # original row of each row still decoding
    stop_ids = torch.tensor(stop_ids, device=device)
    for step in range(cfg.max_new_tokens):
        token = sample_next(logits, cfg.temperature, cfg.top_k, cfg.top_p, generator)
        tokens[live, step] = token
        done = torch.isin(token, stop_ids)
        if done.any():
            lengths[live[done]] = step + 1
            stopped[live[done]] = True
            keep = (~done).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            # Finished rows leave the batch: later steps pay only for live ones.
            live, token, attention, next_position = live[keep], token[keep], attention[keep], next_position[keep]
            cache.batch_select_indices(keep)
        if step == cfg.max_new_tokens - 1:
            break
        attention = torch.cat([attention, attention.new_ones(attention.shape[0], 1)], dim=1)
        logits = (
            model(
                input_ids=token[:, None],
                attention_mask=attention,
                position_ids=next_position,
                use_cache=True,
                **{name: cache},
            )
            .logits[:, -1]
            .float()
        )
        next_position = next_position + 1
    lengths = torch.where(stopped, lengths, torch.full_like(lengths, step + 1))
    return tokens[:, : int(lengths.max())], lengths, ~stopped


def _pad(rows: list[Tensor], value: int, left: bool) -> Tensor:
    """Concatenate (1 or more, L_i) rows into one tensor, padding each to the longest."""
    width = max(r.shape[-1] for r in rows)
    pads = [(width - r.shape[-1], 0) if left else (0, width - r.shape[-1]) for r in rows]
    return torch.cat([torch.nn.functional.pad(r, pad, value=value) for r, pad in zip(rows, pads)], dim=0)


def concat_rollouts(parts: list[Rollouts], pad_id: int) -> Rollouts:
    """One batch of several (e.g. DAPO refill rounds): prompts left-padded, completions right-padded to the widest."""
    if len({part.group_size for part in parts}) != 1:
        raise ValueError("rollouts of different group sizes cannot be concatenated")
    return Rollouts(
        prompt_ids=_pad([p.prompt_ids for p in parts], pad_id, left=True),
        prompt_mask=_pad([p.prompt_mask for p in parts], 0, left=True),
        completion_ids=_pad([p.completion_ids for p in parts], pad_id, left=False),
        completion_mask=_pad([p.completion_mask for p in parts], 0, left=False),
        texts=[text for p in parts for text in p.texts],
        truncated=torch.cat([p.truncated for p in parts]),
        group_size=parts[0].group_size,
    )


def _left_padded(encoded: list[list[int]], pad_id: int, device) -> tuple[Tensor, Tensor]:
    ids = _pad([torch.tensor([p]) for p in encoded], pad_id, left=True).to(device)
    mask = _pad([torch.ones(1, len(p), dtype=torch.long) for p in encoded], 0, left=True).to(device)
    return ids, mask


def sample_groups(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[Prompt],
    group_size: int,
    cfg: SamplingConfig,
    *,
    seed: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> Rollouts:
    """Sample `group_size` completions for each prompt (text, or chat messages). With a seed the
    result is reproducible for a given `max_batch_size`; without one, torch's global RNG is used.
    `progress(n)` is called after each sub-batch with the number of prompts it finished (e.g. a bar's update)."""
    if group_size < 1 or not prompts:
        raise ValueError(
            f"need at least one prompt and group_size >= 1, got {len(prompts)} prompts, group_size={group_size}"
        )
    return _sample_encoded(
        model, tokenizer, [encode_prompt(tokenizer, p) for p in prompts], group_size, cfg, seed, progress
    )


def sample_continuations(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[Prompt],
    prefixes: list[str],
    k: int,
    cfg: SamplingConfig,
    *,
    seed: int | None = None,
) -> Rollouts:
    """Sample `k` continuations of each (prompt, prefix) pair: the prompt encoded as `encode_prompt` does
    (assistant turn opened), then the tokens of `prefixes[i]`, the start of the assistant's reply, and
    decoding goes on from there. Rows [i*k, (i+1)*k) continue pair i; `completion_ids` and `texts` hold the
    continuations only, and `prompt_ids` the prompt with its prefix (what the continuations were
    conditioned on). The prefix is re-encoded from text, as the tokenizer splits it on its own."""
    if len(prefixes) != len(prompts):
        raise ValueError(f"one prefix per prompt: got {len(prompts)} prompts and {len(prefixes)} prefixes")
    if k < 1 or not prompts:
        raise ValueError(f"need at least one prompt and k >= 1, got {len(prompts)} prompts, k={k}")
    encoded = [
        encode_prompt(tokenizer, prompt) + tokenizer(prefix, add_special_tokens=False)["input_ids"]
        for prompt, prefix in zip(prompts, prefixes)
    ]
    return _sample_encoded(model, tokenizer, encoded, k, cfg, seed)


def _sample_encoded(
    model,
    tokenizer,
    encoded: list[list[int]],
    group_size: int,
    cfg: SamplingConfig,
    seed: int | None,
    progress: Callable[[int], object] | None = None,
) -> Rollouts:
    """The shared path of `sample_groups` and `sample_continuations`: `group_size` completions of each
    encoded prompt, decoded in sub-batches of whole groups."""
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stop_ids = stop_token_ids(model, tokenizer, cfg.stop_token_ids)
    for i, ids in enumerate(encoded):
        if not ids:
            raise ValueError(f"prompt {i} encodes to no tokens; give it some text")
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    prompts_per_batch = max(1, cfg.max_batch_size // group_size)  # whole groups per sub-batch
    prompt_parts, mask_parts, completion_parts, length_parts, truncated_parts = [], [], [], [], []
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(encoded), prompts_per_batch):
            ids, mask = _left_padded(encoded[start : start + prompts_per_batch], pad_id, device)
            completion, lengths, truncated = _decode(model, ids, mask, group_size, cfg, stop_ids, pad_id, generator)
            prompt_parts.append(ids.repeat_interleave(group_size, 0))
            mask_parts.append(mask.repeat_interleave(group_size, 0))
            completion_parts.append(completion)
            length_parts.append(lengths)
            truncated_parts.append(truncated)
            if progress is not None:
                progress(len(encoded[start : start + prompts_per_batch]))
    finally:
        model.train(was_training)
    completion_ids = _pad(completion_parts, pad_id, left=False)
    lengths = torch.cat(length_parts)
    completions = [row[:n].tolist() for row, n in zip(completion_ids, lengths.tolist())]
    return Rollouts(
        prompt_ids=_pad(prompt_parts, pad_id, left=True),
        prompt_mask=_pad(mask_parts, 0, left=True),
        completion_ids=completion_ids,
        completion_mask=(torch.arange(completion_ids.shape[1], device=device) < lengths[:, None]).long(),
        texts=tokenizer.batch_decode(completions, skip_special_tokens=True),
        truncated=torch.cat(truncated_parts),
        group_size=group_size,
    )
