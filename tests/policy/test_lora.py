"""LoRA through peft (policy/lora.py): only the adapters train, the reference is the same model with its
adapters disabled (bit for bit the base model), the policy starts equal to its reference, the merged model
computes what the adapted one does, and a reference reset freezes a copy of the adapter."""

from __future__ import annotations

import sys

import pytest
import torch
from torch.testing import assert_close
from transformers import AutoModelForCausalLM

from policy.grpo import group_advantages
from policy.logprobs import completion_logprobs
from policy.lora import (
    ADAPTER_DIR,
    MERGED_DIR,
    SHARED_REFERENCE,
    LoraConfig,
    apply_lora,
    load_lora,
    reference_weights,
    require_peft,
    save_lora,
    snapshot_reference,
)
from policy.sampling import SamplingConfig, sample_groups
from policy.update import GRPOConfig, GRPOUpdater

pytest.importorskip("peft")

PROMPTS = ["a", "bc", "def", "g"]


def _rollouts(model, tokenizer, seed=0):
    return sample_groups(model, tokenizer, PROMPTS, 4, SamplingConfig(max_new_tokens=7), seed=seed)


def _advantages(rollouts):
    return group_advantages(torch.tensor([float(len(t) % 3) for t in rollouts.texts]), rollouts.group_size)


def _logps(model, rollouts):
    with torch.no_grad():
        return completion_logprobs(
            model, rollouts.prompt_ids, rollouts.prompt_mask, rollouts.completion_ids, rollouts.completion_mask
        )


def _base_weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.get_base_model().state_dict().items() if ".lora_" not in k}


def _adapter_weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if ".lora_" in k}


@pytest.mark.parametrize("checkpointing", [False, True])
def test_only_the_adapters_train_and_the_base_weights_stay_bit_identical(make_tiny_model, tokenizer, checkpointing):
    model = apply_lora(make_tiny_model(), LoraConfig(r=4))
    base, adapters = _base_weights(model), _adapter_weights(model)
    updater = GRPOUpdater(
        model, GRPOConfig(beta=0.04, lr=1e-2, gradient_checkpointing=checkpointing), ref_model=SHARED_REFERENCE
    )
    # The optimizer holds the adapters and nothing else: 2 layers x 4 projections x (A, B).
    optimized = {id(p) for group in updater.optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for k, p in model.named_parameters() if ".lora_" in k} and len(optimized) == 16
    for seed in range(2):
        rollouts = _rollouts(model, tokenizer, seed)
        assert updater.step(rollouts, _advantages(rollouts))["policy/skipped"] == 0
    assert all(torch.equal(v, base[k]) for k, v in _base_weights(model).items())
    # Every B moved (it starts at 0; activation checkpointing must not cut the gradient to the adapters).
    assert all(not torch.equal(v, adapters[k]) for k, v in _adapter_weights(model).items() if ".lora_B." in k)
    assert [k for k, p in model.named_parameters() if p.requires_grad] == list(adapters)


def test_the_reference_is_the_base_model_bit_for_bit(make_tiny_model, tokenizer):
    base = make_tiny_model()
    model = apply_lora(make_tiny_model(), LoraConfig(r=4))
    updater = GRPOUpdater(model, GRPOConfig(beta=0.04, lr=1e-2), ref_model=SHARED_REFERENCE)
    rollouts = _rollouts(model, tokenizer)
    updater.step(rollouts, _advantages(rollouts))  # the adapters are no longer zero
    assert not torch.equal(_logps(model, rollouts), _logps(base, rollouts))
    seen = []
    original = updater._logps
    updater._logps = lambda m, r: seen.append(m) or original(m, r)
    assert torch.equal(updater._ref_logps(rollouts), _logps(base, rollouts))
    assert seen == [model]  # no second model: the policy itself, its adapters disabled for the forward
    assert sum(p.requires_grad for p in model.parameters()) == 16  # and enabled again after it


def test_at_initialisation_the_policy_is_its_reference_so_the_kl_is_zero(make_tiny_model, tokenizer):
    model = apply_lora(make_tiny_model(), LoraConfig(r=4))
    rollouts = _rollouts(model, tokenizer)
    # B = 0: each adapted layer adds exactly 0, so the log-probs are the base model's bit for bit.
    with reference_weights(model):
        reference = _logps(model, rollouts)
    assert torch.equal(_logps(model, rollouts), reference)
    updater = GRPOUpdater(model, GRPOConfig(beta=0.04, lr=1e-2), ref_model=SHARED_REFERENCE)
    assert updater.step(rollouts, _advantages(rollouts))["policy/kl"] == 0.0
    rollouts = _rollouts(model, tokenizer, seed=1)
    assert updater.step(rollouts, _advantages(rollouts))["policy/kl"] > 0.0  # the adapters moved


def _train_adapters(model):
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".lora_B." in name:
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))


def _base(make_tiny_model, tied: bool):
    base = make_tiny_model()
    if tied:  # SmolLM2 ties its output head to the embeddings: the merged save must keep that
        base.config.tie_word_embeddings = True
        base.tie_weights()
    return base


@pytest.mark.parametrize("tied", [False, True])
def test_saved_merged_model_computes_what_the_adapted_model_does(make_tiny_model, tokenizer, tmp_path, tied):
    model = apply_lora(_base(make_tiny_model, tied), LoraConfig(r=4))
    _train_adapters(model)
    rollouts = _rollouts(model, tokenizer)
    adapted = _logps(model, rollouts)
    save_lora(model, str(tmp_path))
    merged = AutoModelForCausalLM.from_pretrained(str(tmp_path / MERGED_DIR))
    assert not any(".lora_" in k or "base_layer" in k for k in merged.state_dict())
    mask = rollouts.completion_mask.bool()
    assert_close(_logps(merged, rollouts)[mask], adapted[mask], rtol=0, atol=1e-5)
    # The adapter directory over a fresh base model is the policy exactly, and trains the same parameters.
    reloaded = load_lora(_base(make_tiny_model, tied), str(tmp_path / ADAPTER_DIR))
    assert torch.equal(_logps(reloaded, rollouts), adapted)
    assert [k for k, p in reloaded.named_parameters() if p.requires_grad] == [
        k for k, p in model.named_parameters() if p.requires_grad
    ]


def test_a_reset_freezes_a_copy_of_the_adapter_as_the_reference(make_tiny_model, tokenizer, tmp_path):
    model = apply_lora(make_tiny_model(), LoraConfig(r=4))
    updater = GRPOUpdater(model, GRPOConfig(beta=0.04, lr=1e-2), ref_model=SHARED_REFERENCE)
    rollouts = _rollouts(model, tokenizer)
    updater.step(rollouts, _advantages(rollouts))
    at_reset = _logps(model, rollouts)
    snapshot_reference(model)
    assert torch.equal(updater._ref_logps(rollouts), at_reset)
    assert updater.step(rollouts, _advantages(rollouts))["policy/kl"] == 0.0  # the policy is its new reference
    updater.step(rollouts, _advantages(rollouts))
    assert not torch.equal(_logps(model, rollouts), at_reset)  # the trained adapter moves on ...
    assert torch.equal(updater._ref_logps(rollouts), at_reset)  # ... the snapshot does not
    optimized = {id(p) for group in updater.optimizer.param_groups for p in group["params"]}
    assert {id(p) for p in model.parameters() if p.requires_grad} == optimized  # the snapshot never trains
    # Saved and loaded, the snapshot is still the reference.
    save_lora(model, str(tmp_path))
    reloaded = load_lora(make_tiny_model(), str(tmp_path / ADAPTER_DIR))
    with reference_weights(reloaded):
        assert torch.equal(_logps(reloaded, rollouts), at_reset)
    assert sum(p.requires_grad for p in reloaded.parameters()) == 16


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"r": 0}, r"lora.r must be an integer >= 1"),
        ({"alpha": 0.0}, r"lora.alpha must be > 0"),
        ({"dropout": 1.0}, r"lora.dropout must be in \[0, 1\)"),
        ({"target_modules": []}, r"lora.target_modules must list at least one layer name"),
    ],
)
def test_bad_lora_values_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        LoraConfig(**fields)


def test_an_unknown_target_module_names_the_key(make_tiny_model):
    with pytest.raises(ValueError, match=r"policy.lora.target_modules=\['qkv'\]"):
        apply_lora(make_tiny_model(), LoraConfig(target_modules=["qkv"]))


def test_all_linear_adapts_every_linear_layer_but_the_head(make_tiny_model):
    model = apply_lora(make_tiny_model(), LoraConfig(r=2, target_modules=["all-linear"]))
    adapted = {k.split(".")[-4] for k, p in model.named_parameters() if ".lora_A." in k}
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_the_shared_reference_needs_a_lora_policy(tiny_model):
    with pytest.raises(ValueError, match="needs a LoRA policy"):
        GRPOUpdater(tiny_model, GRPOConfig(beta=0.04), ref_model=SHARED_REFERENCE)


def test_without_peft_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` now raises ImportError
    with pytest.raises(ImportError, match=r'pip install -e "\.\[lora\]"'):
        require_peft()
