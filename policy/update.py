"""One GRPO update of the policy from a batch of rollouts and their advantages.

`GRPOUpdater.step` runs `num_iterations` (the paper's mu) passes over the batch. Each pass shuffles
the rows and cuts them into mini-batches, one optimizer step each, built from micro-batches with
gradient accumulation. Micro-batch losses are weighted so the accumulated gradient equals the
gradient of the whole mini-batch's loss, for both `seq_mean` and `token_mean`; under data parallelism, the
loss of all processes' mini-batches together (not the mean of per-process losses).

Old log-probs are taken once, before the first pass. They are skipped when the batch is used for
exactly one optimizer step (mu = 1, one mini-batch): then the policy has not moved since sampling,
ratio = exp(logp - logp.detach()) = 1 and the gradient is the policy-gradient one. Reference
log-probs are computed only when beta > 0: by a frozen copy of the policy, or for a LoRA policy
(`ref_model=policy.lora.SHARED_REFERENCE`) by the policy itself with its adapters disabled. A step
whose loss or gradient is not finite is skipped (reported as `policy/skipped`) instead of writing NaN
into the weights.

    updater = GRPOUpdater(model, GRPOConfig(lr=1e-6, beta=0.04), ref_model=make_reference(model))
    updater = GRPOUpdater(apply_lora(model, LoraConfig()), cfg, ref_model=SHARED_REFERENCE)  # LoRA
    metrics = updater.step(rollouts, group_advantages(rewards, rollouts.group_size))
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch import Tensor

from policy.grpo import LOSS_AGGREGATIONS, grpo_loss
from policy.logprobs import completion_logprobs, prompt_order, prompt_packing
from policy.lora import SHARED_REFERENCE, is_lora, reference_weights
from policy.model import enable_checkpointing
from policy.sampling import Rollouts

LR_SCHEDULES = ("constant", "linear", "cosine")


@dataclass
class GRPOConfig:
    lr: float = field(default=1e-6, metadata={"help": "AdamW learning rate (peak, after warm-up)"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW decoupled weight decay"})
    adam_betas: tuple[float, float] = field(default=(0.9, 0.999), metadata={"help": "AdamW (beta1, beta2)"})
    max_grad_norm: float = field(
        default=1.0, metadata={"help": "clip the global gradient norm to this (0 = no clipping)"}
    )
    beta: float = field(
        default=0.04,
        metadata={"help": "weight of the k3 KL to the frozen reference (paper: 0.04; 0 = no reference model)"},
    )
    epsilon_low: float = field(default=0.2, metadata={"help": "ratio clip below: 1 - epsilon_low"})
    epsilon_high: float = field(
        default=0.2, metadata={"help": "ratio clip above: 1 + epsilon_high (DAPO raises it to 0.28)"}
    )
    loss_agg: str = field(
        default="seq_mean",
        metadata={"help": "seq_mean (paper: per completion, then over completions) or token_mean (DAPO)"},
    )
    num_iterations: int = field(default=1, metadata={"help": "mu: passes over each batch of rollouts"})
    mini_batch_size: int = field(
        default=0, metadata={"help": "rollouts per optimizer step (0 = the whole batch: one step per pass)"}
    )
    micro_batch_size: int = field(
        default=8, metadata={"help": "rollouts per forward/backward; gradients accumulate up to mini_batch_size"}
    )
    temperature: float = field(
        default=1.0,
        metadata={"help": "sampling temperature the log-probs are computed at (match SamplingConfig.temperature)"},
    )
    lr_schedule: str = field(
        default="constant", metadata={"help": "after warm-up: constant, linear or cosine decay to 0 at total_steps"}
    )
    warmup_steps: int = field(default=0, metadata={"help": "optimizer steps of linear warm-up from 0"})
    total_steps: int = field(
        default=0, metadata={"help": "optimizer steps the decay spans (needed by linear and cosine)"}
    )
    logprob_chunk_size: int = field(
        default=16, metadata={"help": "rollouts per no-grad forward when taking old and reference log-probs"}
    )
    shuffle: bool = field(default=True, metadata={"help": "shuffle rollouts before cutting mini-batches in each pass"})
    seed: int = field(default=0, metadata={"help": "seed of the mini-batch shuffling"})
    disable_dropout: bool = field(default=True, metadata={"help": "set dropout to 0 so ratio = 1 on-policy"})
    gradient_checkpointing: bool = field(
        default=False,
        metadata={
            "help": "recompute activations in backward: less memory, more compute (see benchmarks/bench_vs_trl.py)"
        },
    )
    mask_truncated_completions: bool = field(
        default=False,
        metadata={
            "help": "completions cut at max_new_tokens leave the loss (DAPO): their unfinished text is neither "
            "rewarded nor punished"
        },
    )
    share_prompts: bool = field(
        default=True,
        metadata={
            "help": "pack each micro-batch: every distinct prompt once, its completions after it under a 4-D mask "
            "(same log-probs, no padding, ~30% less compute; models that ignore 4-D masks fall back)"
        },
    )

    def __post_init__(self) -> None:
        checks = [
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.beta >= 0, f"beta must be >= 0, got {self.beta}"),
            (0 <= self.epsilon_low < 1, f"epsilon_low must be in [0, 1), got {self.epsilon_low}"),
            (self.epsilon_high >= 0, f"epsilon_high must be >= 0, got {self.epsilon_high}"),
            (self.loss_agg in LOSS_AGGREGATIONS, f"loss_agg must be one of {LOSS_AGGREGATIONS}, got {self.loss_agg!r}"),
            (self.num_iterations >= 1, f"num_iterations must be >= 1, got {self.num_iterations}"),
            (self.micro_batch_size >= 1, f"micro_batch_size must be >= 1, got {self.micro_batch_size}"),
            (
                self.mini_batch_size == 0 or self.mini_batch_size >= self.micro_batch_size,
                f"mini_batch_size ({self.mini_batch_size}) must be 0 (whole batch) or >= micro_batch_size "
                f"({self.micro_batch_size})",
            ),
            (
                self.temperature > 0,
                f"temperature must be > 0 (log-probs of greedy decoding are not defined), got {self.temperature}",
            ),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}"),
            (self.warmup_steps >= 0 and self.max_grad_norm >= 0, "warmup_steps and max_grad_norm must be >= 0"),
            (
                self.lr_schedule == "constant" or self.total_steps > self.warmup_steps,
                f"lr_schedule={self.lr_schedule!r} needs total_steps > warmup_steps ({self.warmup_steps}), "
                f"got {self.total_steps}",
            ),
            (self.logprob_chunk_size >= 1, f"logprob_chunk_size must be >= 1, got {self.logprob_chunk_size}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"GRPOConfig: {message}")
        self.adam_betas = tuple(self.adam_betas)


def lr_factor(step: int, warmup_steps: int, total_steps: int, schedule: str) -> float:
    """Multiplier of the peak lr at optimizer step `step` (0-based): linear warm-up, then decay."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 1.0 - progress if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))


def mask_truncated(rollouts: Rollouts) -> Rollouts:
    """The same rollouts with every completion cut at the token limit masked out of the loss (mask all 0):
    such a row then weighs nothing in either aggregation, as if it were not in the batch."""
    keep = (~rollouts.truncated.bool()).to(rollouts.completion_mask.dtype)[:, None]
    return dataclasses.replace(rollouts, completion_mask=rollouts.completion_mask * keep)


def adamw(params, **kwargs) -> torch.optim.AdamW:
    """AdamW with the fused kernel where the device has one (CPU and CUDA): one pass over each tensor and
    no weight-sized temporaries, where the default multi-tensor path allocates a few."""
    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except (RuntimeError, ValueError):  # e.g. a device or dtype without a fused kernel
        return torch.optim.AdamW(params, **kwargs)


class GRPOUpdater:
    """Owns the optimizer and lr schedule of the policy and applies GRPO steps.

    With an `accelerate.Accelerator`, the model and optimizer are prepared here: use
    `updater.model` afterwards (and `accelerator.unwrap_model(updater.model)` to sample).
    """

    def __init__(self, model, cfg: GRPOConfig, ref_model=None, accelerator=None):
        if cfg.beta > 0 and ref_model is None:
            raise ValueError("GRPOConfig.beta > 0 needs ref_model=policy.model.make_reference(model), or set beta=0")
        if isinstance(ref_model, str) and (ref_model != SHARED_REFERENCE or not is_lora(model)):
            raise ValueError(
                f"ref_model={ref_model!r}: only {SHARED_REFERENCE!r} is known, and it needs a LoRA policy "
                "(policy.lora.apply_lora)"
            )
        self.cfg, self.ref_model, self.accelerator = cfg, ref_model, accelerator
        if cfg.disable_dropout:
            for module in model.modules():
                if isinstance(module, torch.nn.Dropout):
                    module.p = 0.0
        if cfg.gradient_checkpointing:
            enable_checkpointing(model)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = adamw(params, lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay)
        # Only what trains: for a LoRA policy the adapters, so Adam's moments are adapter-sized too.
        # The scheduler stays unprepared: accelerate's wrapper would step it once per process.
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: lr_factor(step, cfg.warmup_steps, cfg.total_steps, cfg.lr_schedule)
        )
        if accelerator is not None:
            model, optimizer = accelerator.prepare(model, optimizer)
        self.model, self.optimizer, self.params = model, optimizer, params
        self.shuffle_generator = torch.Generator().manual_seed(cfg.seed)
        self.optimizer_steps = 0
        self.skipped_steps = 0

    @torch.no_grad()
    def _logps(self, model, rollouts: Rollouts) -> Tensor:
        return completion_logprobs(
            model,
            rollouts.prompt_ids,
            rollouts.prompt_mask,
            rollouts.completion_ids,
            rollouts.completion_mask,
            temperature=self.cfg.temperature,
            chunk_size=self.cfg.logprob_chunk_size,
            share_prompts=self.cfg.share_prompts,
        )

    def _ref_logps(self, rollouts: Rollouts) -> Tensor:
        if self.ref_model != SHARED_REFERENCE:
            return self._logps(self.ref_model, rollouts)
        # The same (prepared) model, switched to the reference's weights for these no-grad forwards.
        policy = self.accelerator.unwrap_model(self.model) if self.accelerator is not None else self.model
        with reference_weights(policy):
            return self._logps(self.model, rollouts)

    def step(self, rollouts: Rollouts, advantages: Tensor) -> dict[str, float]:
        """GRPO update on one batch. advantages: (N,), one per completion (outcome supervision, e.g. from
        `policy.grpo.group_advantages`), or (N, T), one per completion token (process supervision,
        `policy.grpo.process_advantages`). Returns metrics averaged over the optimizer steps taken, keys
        namespaced `policy/`."""
        cfg, rows = self.cfg, len(rollouts)
        if advantages.shape not in ((rows,), tuple(rollouts.completion_ids.shape)):
            raise ValueError(
                f"advantages must have shape ({rows},) or {tuple(rollouts.completion_ids.shape)} like "
                f"the rollouts' completions, got {tuple(advantages.shape)}"
            )
        mini_batch_size = cfg.mini_batch_size or rows
        if rows % mini_batch_size:
            raise ValueError(f"the batch of {rows} rollouts is not divisible by mini_batch_size={mini_batch_size}")
        advantages = advantages.to(rollouts.completion_ids.device, torch.float32)
        if cfg.mask_truncated_completions:
            rollouts = mask_truncated(rollouts)
        single_step = cfg.num_iterations == 1 and mini_batch_size == rows
        old_logps = None if single_step else self._logps(self.model, rollouts)
        ref_logps = self._ref_logps(rollouts) if cfg.beta > 0 else None
        history = defaultdict(list)
        for _ in range(cfg.num_iterations):
            order = torch.randperm(rows, generator=self.shuffle_generator) if cfg.shuffle else torch.arange(rows)
            for mini_batch in order.split(mini_batch_size):
                for key, value in self._optimizer_step(rollouts, mini_batch, advantages, old_logps, ref_logps).items():
                    history[key].append(value)
        metrics = {key: sum(values) / len(values) for key, values in history.items()}
        metrics["policy/skipped"] = sum(history["policy/skipped"])
        metrics["policy/optimizer_steps"] = self.optimizer_steps
        if cfg.mask_truncated_completions:
            metrics["policy/truncated_masked"] = float(rollouts.truncated.sum())
        return metrics

    def _weights(self, mask: Tensor) -> Tensor:
        """Per-row weight in the aggregated loss: its token count (token_mean) or 1 (seq_mean)."""
        counts = mask.sum(dim=1).float()
        return counts if self.cfg.loss_agg == "token_mean" else (counts > 0).float()

    def _weight_per_process(self, weight: Tensor) -> Tensor:
        """The weight of this step's rows summed over all processes, divided by their number. DDP, FSDP and
        DeepSpeed average gradients over processes: each process normalising its loss by this, not by its own
        weight, makes that average the gradient of the loss aggregated over every process's rows together, as
        one process holding them all would take it (tests/distributed). Every process must call this."""
        accelerator = self.accelerator
        if accelerator is None or accelerator.num_processes == 1:
            return weight.clamp(min=1)
        total = accelerator.reduce(weight.to(accelerator.device), reduction="sum").cpu()
        return total.clamp(min=1) / accelerator.num_processes

    def accumulate_gradients(self, rollouts, rows, advantages, old_logps=None, ref_logps=None) -> dict[str, float]:
        """Forward and backward over `rows` (1-D long tensor) in micro-batches, adding to .grad the
        gradient of the GRPO loss aggregated over all of `rows` (of every process, once the processes'
        gradients are averaged). Returns token-weighted metrics; `policy/loss` is this process's share,
        whose mean over processes is the loss."""
        cfg, accelerator, mask = self.cfg, self.accelerator, rollouts.completion_mask
        row_weights = self._weights(mask).double().cpu()
        total_weight = self._weight_per_process(row_weights[rows].sum())
        # Any split of `rows` accumulates the same gradient. Packed, a micro-batch holds whole prompts so each
        # prompt runs once; otherwise rows of similar length, so that each forward pads little.
        at = rows.to(mask.device)
        if cfg.share_prompts and prompt_packing(self.model):
            order = prompt_order(rollouts.prompt_ids[at], rollouts.prompt_mask[at])
        else:
            order = torch.argsort(mask.sum(dim=1)[at], stable=True)
        micro_batches = rows[order.cpu()].split(cfg.micro_batch_size)
        sums, tokens = defaultdict(float), 0
        for index, micro in enumerate(micro_batches):
            at = micro.to(mask.device)
            # Only the last micro-batch all-reduces gradients across processes.
            last = index == len(micro_batches) - 1
            with contextlib.nullcontext() if accelerator is None or last else accelerator.no_sync(self.model):
                logps = completion_logprobs(
                    self.model,
                    rollouts.prompt_ids[at],
                    rollouts.prompt_mask[at],
                    rollouts.completion_ids[at],
                    mask[at],
                    temperature=cfg.temperature,
                    share_prompts=cfg.share_prompts,
                )
                loss, micro_metrics = grpo_loss(
                    logps,
                    None if old_logps is None else old_logps[at],
                    None if ref_logps is None else ref_logps[at],
                    advantages[at],
                    mask[at],
                    epsilon_low=cfg.epsilon_low,
                    epsilon_high=cfg.epsilon_high,
                    beta=cfg.beta,
                    loss_agg=cfg.loss_agg,
                )
                # Weighted so the accumulated gradient is that of the aggregated loss over all rows.
                scaled = loss * (row_weights[micro].sum() / total_weight).item()
                accelerator.backward(scaled) if accelerator is not None else scaled.backward()
            sums["loss"] += scaled.item()
            micro_tokens = int(mask[at].sum())
            tokens += micro_tokens
            for key in ("kl", "clip_ratio/low", "clip_ratio/high", "clip_ratio/region", "ratio_mean"):
                sums[key] += micro_metrics[key] * micro_tokens
        metrics = {f"policy/{key}": value / max(tokens, 1) for key, value in sums.items() if key != "loss"}
        metrics.update({"policy/loss": sums["loss"], "policy/tokens": float(tokens)})
        return metrics

    def _optimizer_step(self, rollouts, rows, advantages, old_logps, ref_logps) -> dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        metrics = self.accumulate_gradients(rollouts, rows, advantages, old_logps, ref_logps)
        grad_norm = self._clip_gradients()
        lr = self.scheduler.get_last_lr()[0]
        skipped = not (math.isfinite(metrics["policy/loss"]) and math.isfinite(grad_norm))
        if skipped:
            self.skipped_steps += 1
        else:
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer_steps += 1
        # Gradients are rebuilt by the next backward: holding them through sampling and the RM update
        # would only add a weight-sized block to the resident memory.
        self.optimizer.zero_grad(set_to_none=True)
        metrics.update({"policy/grad_norm": grad_norm, "policy/lr": lr, "policy/skipped": float(skipped)})
        return metrics

    def _clip_gradients(self) -> float:
        max_norm = self.cfg.max_grad_norm or float("inf")
        if self.accelerator is not None:
            return float(self.accelerator.clip_grad_norm_(self.model.parameters(), max_norm))
        return float(torch.nn.utils.clip_grad_norm_(self.params, max_norm))

    def state_dict(self) -> dict:
        """Optimizer, scheduler, counters and shuffle RNG, for checkpoints (weights are saved apart).
        Like torch's own, it shares tensors with the live optimizer: save it before stepping again."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "optimizer_steps": self.optimizer_steps,
            "skipped_steps": self.skipped_steps,
            "shuffle_rng": self.shuffle_generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.optimizer_steps = state["optimizer_steps"]
        self.skipped_steps = state["skipped_steps"]
        self.shuffle_generator.set_state(state["shuffle_rng"])
