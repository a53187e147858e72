"""LoRA for the policy through `peft`: small adapters train, the base weights stay frozen, and those frozen
weights double as the KL reference (the same model with its adapters disabled), so no second copy of the
weights is kept and the optimizer holds only the adapters' moments.

    policy:
      lora: {r: 16, alpha: 32}          # null (the default) = full fine-tuning

    model = apply_lora(model, LoraConfig(r=16))   # a peft.PeftModel: only the adapters require grad
    with reference_weights(model):                # the KL reference, inside the same model
        ref_logps = completion_logprobs(model, ...)
    save_lora(model, "out")                       # out/policy_adapter (peft's layout) + out/policy (merged)
    model = load_lora(base_model, "out/policy_adapter")

Iterative RL (`loop.reset_reference_on_rm_update`) moves the reference to the current policy: `snapshot_reference`
copies the trained adapter into a second, frozen one, named `reference`, which `reference_weights` then switches
on instead of disabling the adapters. The trained adapter and its optimizer state carry on untouched, as the
full model's do in full fine-tuning; the snapshot costs one adapter's memory.

peft is optional: `pip install -e ".[lora]"`.
"""

from __future__ import annotations

import contextlib
import copy
import os
import warnings
from dataclasses import dataclass

import torch

from common.lora import ALL_LINEAR, LoraSettings, require_peft  # noqa: F401  (ALL_LINEAR re-exported)

DEFAULT = "default"  # peft's name for the first adapter: the one that trains
REFERENCE = "reference"  # the frozen snapshot a reference reset takes
ADAPTER_DIR = "policy_adapter"  # beside the merged `policy/` in checkpoints and final/
MERGED_DIR = "policy"
# GRPOUpdater's `ref_model` for a LoRA policy: the reference is inside the policy itself (`reference_weights`).
SHARED_REFERENCE = "shared"


@dataclass
class LoraConfig(LoraSettings):
    """The policy's LoRA settings (`common.lora.LoraSettings`: keys and checks shared with the reward model's)."""

    def to_peft(self, **kwargs):
        return super().to_peft(task_type="CAUSAL_LM", **kwargs)


@contextlib.contextmanager
def _quiet_peft():
    # peft 0.21 reads `is_gradient_checkpointing`, a name transformers 5.x deprecates, while wrapping a model:
    # that warning is about peft's code, not ours, and would print on every start.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def apply_lora(model, cfg: LoraConfig):
    """`model` wrapped with fresh adapters (B = 0, so it computes exactly what `model` did); the base weights
    are frozen in place, not copied."""
    peft = require_peft()
    try:
        with _quiet_peft():
            return peft.get_peft_model(model, cfg.to_peft())
    except ValueError as e:
        if "not found in the base model" in str(e):
            raise ValueError(f"policy.lora.target_modules={cfg.target_modules}: {e}") from e
        raise


def load_lora(model, directory: str):
    """`model` wrapped with the adapters `save_lora` wrote to `directory`: the trained one, trainable (in the
    order `apply_lora` made it, so a saved optimizer state lines up), and the reference snapshot if there is one."""
    peft = require_peft()
    with _quiet_peft():
        model = peft.PeftModel.from_pretrained(model, directory, adapter_name=DEFAULT, is_trainable=True)
        if os.path.isdir(os.path.join(directory, REFERENCE)):
            model.load_adapter(os.path.join(directory, REFERENCE), adapter_name=REFERENCE, is_trainable=False)
    model.set_adapter(DEFAULT)
    return model


def is_lora(model) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "disable_adapter")


@contextlib.contextmanager
def reference_weights(model):
    """Inside: `model` (the unwrapped PeftModel) computes the KL reference. That is its base weights with the
    adapters disabled, or after `snapshot_reference` the frozen `reference` adapter. Use it under no_grad."""
    if REFERENCE not in model.peft_config:
        with model.disable_adapter():
            yield model
        return
    # set_adapter also sets requires_grad (active: as inference_mode says; the rest: off); switching back to
    # the trained adapter restores it, so the optimizer's parameters are trainable again after the block.
    model.set_adapter(REFERENCE, inference_mode=True)
    try:
        yield model
    finally:
        model.set_adapter(DEFAULT)


def initial_weights(model):
    """Inside: `model` computes the initial policy (its base weights): the behaviour policy of `rft`."""
    return model.disable_adapter()


@torch.no_grad()
def snapshot_reference(model) -> None:
    """Make the KL reference the current policy: copy the trained adapter into the frozen `reference` one
    (added on the first reset)."""
    if REFERENCE not in model.peft_config:
        config = copy.deepcopy(model.peft_config[DEFAULT])
        config.inference_mode = True
        with torch.random.fork_rng(devices=[]), _quiet_peft():  # its random initialisation is overwritten below
            model.add_adapter(REFERENCE, config)
        model.set_adapter(DEFAULT)
    params = dict(model.named_parameters())
    for name, param in params.items():
        if f".{DEFAULT}." in name:
            params[name.replace(f".{DEFAULT}.", f".{REFERENCE}.")].copy_(param)


def merged_state_dict(model) -> dict[str, torch.Tensor]:
    """The state dict of the base model with the trained adapter merged in (W + (alpha / r) * B @ A), under the
    base model's own key names: what `AutoModelForCausalLM.from_pretrained` loads. Only the adapted weights are
    new tensors; the model itself is not changed (merging in place and unmerging would not restore the base
    weights bit for bit)."""
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    merged = {}
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer) and DEFAULT in module.lora_A.keys() | module.lora_embedding_A.keys():
            weight = module.get_base_layer().weight
            delta = module.get_delta_weight(DEFAULT)
            merged[f"{name}.base_layer.weight"] = (weight.detach().float() + delta.float()).to(weight.dtype)
    return {
        key.replace(".base_layer.", "."): merged.get(key, value)
        for key, value in base.state_dict().items()
        if ".lora_" not in key
    }


def save_lora(model, directory: str) -> None:
    """`directory/policy_adapter/`: the adapters in peft's layout (the trained one, and `reference/` once a
    reset took one); `directory/policy/`: the merged model, loadable with `AutoModelForCausalLM.from_pretrained`."""
    model.save_pretrained(os.path.join(directory, ADAPTER_DIR), safe_serialization=True)
    model.get_base_model().save_pretrained(
        os.path.join(directory, MERGED_DIR), state_dict=merged_state_dict(model), safe_serialization=True
    )
