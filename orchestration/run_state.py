"""What a checkpoint of the online loop holds, and how a run is resumed from one.

`DIR/checkpoints/step-NNNNNN/`:
    policy/              the policy (save_pretrained: AutoModelForCausalLM.from_pretrained loads it)
    reference/           the KL reference, only once it differs from the initial policy
    rm/                  the reward model (ScalarRewardModel.from_pretrained loads it), once there is one
    trainer_state.pt     run state (step, data position, RM version, buffer rows), both optimizers and
                         schedulers, the reward-hacking alarm, RNG states, and the byte sizes of the logs
On resume the append-only logs (outcomes, metrics, samples) are cut back to those sizes, so the steps
that are re-run write no duplicate rows and no row written before the checkpoint is lost.
"""

from __future__ import annotations

import dataclasses
import os
import random

import numpy as np
import torch

from orchestration.checkpoint import save_checkpoint, truncate_file

STATE_FILE = "trainer_state.pt"


def _log_sizes(trainer) -> dict[str, int]:
    return {name: os.path.getsize(path) if os.path.exists(path) else 0 for name, path in trainer.paths.items()}


def _rng_states() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])


def _save_models(trainer, path: str) -> None:
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.save_pretrained(os.path.join(path, "policy"), safe_serialization=True)
    trainer.tokenizer.save_pretrained(os.path.join(path, "policy"))
    if trainer.reference is not None and trainer.state.reference_reset:
        trainer.reference.save_pretrained(os.path.join(path, "reference"), safe_serialization=True)
    if trainer.rm is not None:
        trainer.accelerator.unwrap_model(trainer.rm).save_pretrained(os.path.join(path, "rm"))


def save(trainer) -> str | None:
    """Checkpoint the run (main process writes; every process waits for it)."""
    trainer.accelerator.wait_for_everyone()
    path = None
    if trainer.is_main:
        def write(tmp: str) -> None:
            _save_models(trainer, tmp)
            torch.save({
                "state": dataclasses.asdict(trainer.state),
                "updater": trainer.updater.state_dict(),
                "rm_trainer": trainer.rm_trainer.state_dict() if trainer.rm_trainer else None,
                "alarm": trainer.alarm.state_dict(),
                "rng": _rng_states(),
                "log_sizes": _log_sizes(trainer),
                "buffer_rows": len(trainer.buffer),
            }, os.path.join(tmp, STATE_FILE))

        path = save_checkpoint(trainer.output_dir, trainer.state.step, write, trainer.cfg.loop.keep_checkpoints)
    trainer.accelerator.wait_for_everyone()
    return path


def restore(trainer, checkpoint: str) -> None:
    """Load the non-model state of `checkpoint` (models were loaded from it already)."""
    saved = torch.load(os.path.join(checkpoint, STATE_FILE), weights_only=False)
    trainer.state = type(trainer.state)(**saved["state"])
    trainer.updater.load_state_dict(saved["updater"])
    if saved["rm_trainer"] is not None:
        trainer.rm_trainer.load_state_dict(saved["rm_trainer"])
    trainer.alarm.load_state_dict(saved["alarm"])
    _set_rng_states(saved["rng"])
    trainer.accelerator.wait_for_everyone()
    if trainer.is_main:
        trainer.buffer.truncate(saved["buffer_rows"])
        for name, size in saved["log_sizes"].items():
            truncate_file(trainer.paths[name], size)
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_main:
        trainer.buffer.reindex()
    print(f"resumed from {checkpoint} at step {trainer.state.step}")


def reset_logs(trainer) -> None:
    """No checkpoint: whatever logs are in the directory come from a run that never reached one."""
    if trainer.is_main:
        trainer.buffer.truncate(0)
        for path in trainer.paths.values():
            if os.path.exists(path):
                truncate_file(path, 0)
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_main:
        trainer.buffer.reindex()


def save_final(trainer) -> str:
    """`DIR/final/policy` and `DIR/final/rm`: the trained models, loadable with from_pretrained."""
    path = os.path.join(trainer.output_dir, "final")
    _save_models(trainer, path)
    return path
