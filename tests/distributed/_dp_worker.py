"""Worker of tests/distributed: GRPO policy updates under accelerate, one process per rank, on CPU with gloo.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/distributed/_dp_worker.py ddp OUT_DIR
    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/distributed/_dp_worker.py fsdp OUT_DIR

Every rank builds the same tiny float64 Llama and the same `fixed_batch`, takes its contiguous half of the rows,
runs `update_once` for each of `CASES` and writes `OUT_DIR/<mode>-<case>-rank<r>.pt`; the tests compare those
files with `update_once` run in one process, without accelerate, on the whole batch.

- `ddp`: accelerate's MULTI_CPU data parallel (DistributedDataParallel over gloo), as `torchrun` with
  ACCELERATE_USE_CPU or configs/accelerate/ddp_2cpu.yaml gives.
- `fsdp`: accelerate's FSDP plugin built from configs/accelerate/fsdp.yaml (FSDP2, `fully_shard`), in full
  precision (float64 and float32) instead of its bf16 mixed precision. accelerate 1.15 never selects FSDP on a
  machine without GPUs (state.py switches to FSDP only for MULTI_GPU/NPU/XPU/...; MULTI_CPU leaves the plugin
  unused and wraps the model in DDP), so the state is set to FSDP by hand here; from there on `prepare`,
  `backward`, `no_sync`, `clip_grad_norm_` and `get_state_dict` run accelerate's own FSDP2 code. It also runs a
  few multi-pass steps (`policy_steps`) and tries accelerate's FSDP1 path (`fsdp1_attempts`).
"""

from __future__ import annotations

import os
import sys
import traceback

import torch
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FSDP_CONFIG = os.path.join(ROOT, "configs", "accelerate", "fsdp.yaml")
GROUP_SIZE = 4
# Completion lengths of the 16 rows; 8 = hit max_new_tokens (truncated). Rank 0's half is short and holds both
# truncated rows, rank 1's is long: the halves differ in tokens (token_mean) and in rows left in the loss once
# truncated rows are masked (seq_mean), so a per-process normalisation would show.
LENGTHS = [1, 2, 8, 3, 2, 8, 1, 3, 5, 7, 6, 7, 5, 6, 7, 6]
MAX_NEW_TOKENS = 8
COMMON = dict(beta=0.04, lr=1e-3, micro_batch_size=3, mask_truncated_completions=True)
CASES = {
    "seq_mean": dict(COMMON, loss_agg="seq_mean"),
    "token_mean": dict(COMMON, loss_agg="token_mean"),
}


def fixed_batch(tokenizer, seed: int = 0):
    """(Rollouts, advantages) of 4 prompts x GROUP_SIZE completions of random tokens with `LENGTHS`."""
    from policy.grpo import group_advantages
    from policy.sampling import Rollouts

    generator = torch.Generator().manual_seed(seed)
    prompts = [tokenizer(text)["input_ids"] for text in ("a", "bc", "def", "ghij") for _ in range(GROUP_SIZE)]
    width = max(map(len, prompts))
    prompt_ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p for p in prompts])  # left-padded
    prompt_mask = (torch.arange(width) >= width - torch.tensor([len(p) for p in prompts])[:, None]).long()
    lengths = torch.tensor(LENGTHS)
    completion_mask = (torch.arange(MAX_NEW_TOKENS) < lengths[:, None]).long()
    completion_ids = torch.randint(5, len(tokenizer), (len(LENGTHS), MAX_NEW_TOKENS), generator=generator)
    truncated = lengths == MAX_NEW_TOKENS
    ends = torch.nonzero(~truncated).squeeze(1)
    completion_ids[ends, lengths[ends] - 1] = tokenizer.eos_token_id  # finished rows end with the stop token
    completion_ids[completion_mask == 0] = tokenizer.pad_token_id
    rollouts = Rollouts(
        prompt_ids, prompt_mask, completion_ids, completion_mask, [""] * len(LENGTHS), truncated, GROUP_SIZE
    )
    rewards = torch.rand(len(LENGTHS), generator=generator, dtype=torch.float64)
    return rollouts, group_advantages(rewards, GROUP_SIZE)


def _full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor: FSDP2 holds parameters and gradients as sharded DTensors."""
    return (tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor).detach().clone()


def update_once(model, rollouts, advantages, cfg, accelerator=None) -> dict:
    """The gradient of one GRPO mini-batch over `rollouts` (after the cross-process average), then one full
    `GRPOUpdater.step` on them: {"grads", "params" (after the step), "metrics"}."""
    from policy.logprobs import completion_logprobs
    from policy.model import make_reference
    from policy.update import GRPOUpdater, mask_truncated

    reference = make_reference(model)
    updater = GRPOUpdater(model, cfg, ref_model=reference, accelerator=accelerator)
    masked = mask_truncated(rollouts) if cfg.mask_truncated_completions else rollouts
    with torch.no_grad():
        ref_logps = completion_logprobs(
            reference,
            masked.prompt_ids,
            masked.prompt_mask,
            masked.completion_ids,
            masked.completion_mask,
            temperature=cfg.temperature,
        )
    updater.accumulate_gradients(masked, torch.arange(len(masked)), advantages, ref_logps=ref_logps)
    module = model if accelerator is None else accelerator.unwrap_model(updater.model)
    grads = {name: _full(p.grad) for name, p in module.named_parameters()}
    updater.optimizer.zero_grad(set_to_none=True)
    metrics = updater.step(rollouts, advantages)
    return {"grads": grads, "params": {name: _full(p) for name, p in module.named_parameters()}, "metrics": metrics}


def fsdp_plugin(version: int = 2, **overrides):
    """accelerate's FullyShardedDataParallelPlugin with the settings of configs/accelerate/fsdp.yaml."""
    from accelerate.utils import FullyShardedDataParallelPlugin

    with open(FSDP_CONFIG) as file:
        settings = yaml.safe_load(file)["fsdp_config"]
    kwargs = {key if key == "fsdp_version" else key.removeprefix("fsdp_"): value for key, value in settings.items()}
    kwargs["fsdp_version"] = version
    if version == 1:  # FSDP1 names the same choice by its sharding strategy
        kwargs["reshard_after_forward"] = "FULL_SHARD"
    return FullyShardedDataParallelPlugin(**{**kwargs, **overrides})


def force_fsdp(accelerator, plugin) -> None:
    """Put `accelerator` on FSDP with `plugin`, which accelerate leaves unused on a machine without GPUs."""
    from accelerate import PartialState
    from accelerate.utils import DistributedType

    # Both states: each AcceleratorState() (an optimizer's wrapper makes one) copies PartialState's fields again.
    PartialState().distributed_type = accelerator.state.distributed_type = DistributedType.FSDP
    accelerator.state.fsdp_plugin = plugin


def policy_steps(build_model, rollouts, advantages, accelerator) -> dict:
    """Three multi-pass GRPO steps (mu = 2, two mini-batches, old and reference log-probs): {"losses",
    "grad_norms", "model_type", "state_dict" (accelerate's gathered one, for saving: full on the main process,
    empty elsewhere), "params" (every parameter all-gathered on this rank)}."""
    from policy.model import make_reference
    from policy.update import GRPOConfig, GRPOUpdater

    model = build_model(torch.float32)
    cfg = GRPOConfig(beta=0.04, lr=1e-2, num_iterations=2, mini_batch_size=4, micro_batch_size=2)
    updater = GRPOUpdater(model, cfg, ref_model=make_reference(model), accelerator=accelerator)
    losses, grad_norms = [], []
    for _ in range(3):
        metrics = updater.step(rollouts, advantages)
        losses.append(metrics["policy/loss"])
        grad_norms.append(metrics["policy/grad_norm"])
    state_dict = accelerator.get_state_dict(updater.model)
    return {
        "losses": losses,
        "grad_norms": grad_norms,
        "model_type": type(updater.model).__name__,
        "state_dict": {name: _full(value) for name, value in state_dict.items()},
        "params": {name: _full(p) for name, p in updater.model.named_parameters()},
    }


def fsdp1_attempts(build_model, accelerator) -> dict[str, str]:
    """accelerate's FSDP1 path (fsdp_version: 1) on CPU, with the shipped settings and without
    cpu_ram_efficient_loading: 'ok', or the error it raises."""
    from policy.update import GRPOConfig, GRPOUpdater

    outcomes = {}
    for name, overrides in (("shipped", {}), ("no_ram_efficient_loading", {"cpu_ram_efficient_loading": False})):
        try:
            accelerator.state.fsdp_plugin = fsdp_plugin(version=1, **overrides)
            GRPOUpdater(build_model(torch.float32), GRPOConfig(beta=0.0), accelerator=accelerator)
            outcomes[name] = "ok"
        except Exception as error:  # recorded for the test, which asserts on the message
            outcomes[name] = f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=-3)}"
    return outcomes


def make_accelerator(mode: str):
    """(accelerator, the distributed type accelerate chose by itself). One per model: under FSDP,
    `clip_grad_norm_` finds its model among all those the accelerator prepared by comparing parameter lists,
    which raises for two models of the same shapes."""
    from accelerate import Accelerator

    plugin = fsdp_plugin() if mode == "fsdp" else None
    accelerator = Accelerator(cpu=True, fsdp_plugin=plugin)
    chosen = str(accelerator.distributed_type)
    if plugin is not None:
        force_fsdp(accelerator, plugin)
    return accelerator, chosen


def main(mode: str, out_dir: str) -> None:
    sys.path.insert(0, ROOT)  # run as a script: the repository's packages and tests/conftest.py's builders
    from policy.update import GRPOConfig
    from tests.conftest import build_char_tokenizer, build_tiny_model

    accelerator, chosen = make_accelerator(mode)  # the first call sees accelerate's own choice
    rank, world = accelerator.process_index, accelerator.num_processes
    tokenizer = build_char_tokenizer()
    rollouts, advantages = fixed_batch(tokenizer)
    share = torch.arange(len(rollouts)).chunk(world)[rank]
    rollouts, advantages = rollouts.select(share), advantages[share]
    for case, kwargs in CASES.items():
        accelerator = make_accelerator(mode)[0]
        result = update_once(
            build_tiny_model(tokenizer, dtype=torch.float64), rollouts, advantages, GRPOConfig(**kwargs), accelerator
        )
        result.update(chosen=chosen, used=str(accelerator.distributed_type), world=world)
        torch.save(result, os.path.join(out_dir, f"{mode}-{case}-rank{rank}.pt"))
    if mode == "fsdp":
        build = lambda dtype: build_tiny_model(tokenizer, dtype=dtype)  # noqa: E731
        result = policy_steps(build, rollouts, advantages, make_accelerator(mode)[0])
        result["fsdp1"] = fsdp1_attempts(build, make_accelerator(mode)[0])
        torch.save(result, os.path.join(out_dir, f"fsdp-steps-rank{rank}.pt"))
    accelerator.wait_for_everyone()
    accelerator.end_training()


if __name__ == "__main__":
    main(*sys.argv[1:])
