"""The policy's life in the online loop, as `orchestration.online_rm.OnlineRM` is the reward model's: loaded (every
weight trained, or LoRA adapters over frozen weights; fresh or from a checkpoint), its KL reference, the model
that samples (the current policy, or for RFT the initial one), the reference reset of iterative RL, and what a
checkpoint holds of it.

    slot = PolicySlot(cfg, accelerator)
    slot.load(checkpoint)        # None: the starting checkpoint, `policy.name_or_path`
    with slot.behaviour() as model: ...sample...
    slot.reset_reference()
    slot.save(directory, reference_reset=True)

The reference, three ways: none (`grpo.beta` 0); with LoRA, the same model with its adapters disabled
(`policy.lora.SHARED_REFERENCE`), a reset snapshotting the adapters into a frozen second one; with every weight
trained, a frozen copy: of the policy as loaded, of the starting checkpoint on resume, or a checkpoint's own
`reference/` once a reset moved it away from the start.
"""

from __future__ import annotations

import contextlib
import os

from policy import lora
from policy.model import load_policy, make_reference


class PolicySlot:
    def __init__(self, cfg, accelerator):
        """`cfg`: the run's `TrainConfig` (policy, grpo.beta, loop.algorithm)."""
        self.cfg, self.accelerator = cfg, accelerator
        self.model = self.tokenizer = self.reference = None
        self._initial = None  # rft without a reference: a frozen copy of the starting policy, made when first asked

    @property
    def uses_lora(self) -> bool:
        return self.cfg.policy.lora is not None

    @property
    def unwrapped(self):
        """The policy model itself, outside any data-parallel wrapper: what samples and what is saved."""
        return self.accelerator.unwrap_model(self.model)

    def load(self, checkpoint: str | None) -> None:
        """The policy, its tokenizer and its KL reference: a checkpoint's, or the starting checkpoint's."""
        if self.uses_lora:
            self._load_lora(checkpoint)
        else:
            self._load_full(checkpoint)

    def _load_lora(self, checkpoint: str | None) -> None:
        """The starting checkpoint's weights, frozen, under fresh adapters or the checkpoint's (`policy_adapter/`);
        the KL reference lives inside the same model (`policy.lora.reference_weights`)."""
        cfg = self.cfg
        base, self.tokenizer = load_policy(
            cfg.policy.name_or_path, dtype=cfg.policy.dtype, device=self.accelerator.device
        )
        self.model = (
            lora.load_lora(base, os.path.join(checkpoint, lora.ADAPTER_DIR))
            if checkpoint
            else lora.apply_lora(base, cfg.policy.lora)
        )
        self.reference = lora.SHARED_REFERENCE if cfg.grpo.beta > 0 else None

    def _load_full(self, checkpoint: str | None) -> None:
        cfg = self.cfg
        policy_path = os.path.join(checkpoint, "policy") if checkpoint else cfg.policy.name_or_path
        self.model, self.tokenizer = self._load(policy_path)
        self.reference = None
        if cfg.grpo.beta > 0:
            if checkpoint and os.path.isdir(os.path.join(checkpoint, "reference")):
                self.reference = make_reference(self._load(os.path.join(checkpoint, "reference"))[0])
            elif checkpoint:  # the reference is still the initial policy
                self.reference = make_reference(self._load(cfg.policy.name_or_path)[0])
            else:
                self.reference = make_reference(self.model)

    def _load(self, path):
        return load_policy(path, dtype=self.cfg.policy.dtype, device=self.accelerator.device)

    @contextlib.contextmanager
    def behaviour(self):
        """The model that samples training completions, inside the block: the current policy, or for `rft`
        the initial one.

        RFT (DeepSeekMath §5.2.1) fine-tunes on correct samples drawn once from the initial policy. Drawing
        them step by step from a frozen copy of it, with the same per-step seeds, is the same distribution
        and needs no pre-pass: a LoRA policy with its adapters disabled, the KL reference when there is one
        (rft never resets it), else a copy."""
        policy = self.unwrapped
        if self.cfg.loop.algorithm != "rft":
            yield policy
        elif self.uses_lora:
            with lora.initial_weights(policy):
                yield policy
        elif self.reference is not None:
            yield self.reference
        else:
            if self._initial is None:
                self._initial = make_reference(self._load(self.cfg.policy.name_or_path)[0])
            yield self._initial

    def reset_reference(self) -> None:
        """Iterative RL: the KL reference becomes the current policy (LoRA: a frozen copy of the adapter)."""
        if self.uses_lora:
            lora.snapshot_reference(self.unwrapped)
        else:
            self.reference.load_state_dict(self.unwrapped.state_dict())

    def save(self, directory: str, reference_reset: bool) -> None:
        """`policy/` and, once a reset moved it away from the initial policy, `reference/`. With LoRA, `policy/` is
        the merged model and `policy_adapter/` the adapters (with the reset's `reference/`)."""
        policy = self.unwrapped
        if self.uses_lora:
            lora.save_lora(policy, directory)
            self.tokenizer.save_pretrained(os.path.join(directory, lora.ADAPTER_DIR))
        else:
            policy.save_pretrained(os.path.join(directory, "policy"), safe_serialization=True)
        self.tokenizer.save_pretrained(os.path.join(directory, "policy"))
        if not self.uses_lora and self.reference is not None and reference_reset:
            self.reference.save_pretrained(os.path.join(directory, "reference"), safe_serialization=True)
            self.tokenizer.save_pretrained(os.path.join(directory, "reference"))  # load_policy reads both
