"""What a checkpoint of the online loop holds, and how a run is resumed from one.

`DIR/checkpoints/step-NNNNNN/`:
    policy/                     the policy (save_pretrained: AutoModelForCausalLM.from_pretrained loads it); with
                                policy.lora, the adapters merged into the base weights
    policy_adapter/             policy.lora only: the adapters in peft's layout (PeftModel.from_pretrained over
                                the starting checkpoint), what a resume loads; `reference/` in it once a reset
                                took the reference's snapshot
    reference/                  the KL reference, only once it differs from the initial policy (full fine-tuning)
    rm/                         the reward model (ScalarRewardModel.from_pretrained loads it), once there is one
    rm_frozen/                  the RM's first version (the frozen monitor), once it is a separate model
    trainer_state.json          run state (step, data position, RM version, buffer rows), the reward-hacking
                                alarm, the curriculum's state (if any), the RNG states, the byte sizes of the
                                logs, and the non-tensor part of both optimizers' and schedulers' state
    trainer_state.safetensors   the tensors those refer to (Adam moments, step counts, RNG states)
    MANIFEST.json               written last: size and CRC-32 of every file above (orchestration/checkpoint.py)

Nothing in a checkpoint is unpickled: every file is safetensors or JSON (orchestration/state_io.py), so a
checkpoint from elsewhere cannot run code. Checkpoints of the older pickled layout (`trainer_state.pt`) are
refused with a message rather than read: reading them safely would need a pickle allow-list to maintain.

On resume the newest checkpoint whose files match its manifest and that loads is used. One whose files do not
match is set aside at once (`step-NNNNNN.corrupt`, with a message) and the one before it is tried; one that
matches but fails to load is set aside only if an older one loads (if none does, the cause is more likely a
change of code or config than the disk, and nothing is moved). A directory whose checkpoints are all bad is
refused, not started over: that would empty the logs of the run that wrote them. The append-only logs
(outcomes, metrics, samples) are cut back to the sizes the checkpoint used recorded, so the steps that are
re-run write no duplicate rows and no row written before that checkpoint is lost.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
from accelerate.utils import broadcast_object_list, gather_object

from orchestration.buffer import OutcomeBuffer
from orchestration.checkpoint import (
    MANIFEST,
    list_checkpoints,
    save_checkpoint,
    set_aside,
    set_aside_checkpoints,
    truncate_file,
    verify_checkpoint,
)
from orchestration.state_io import load_state, save_state

STATE = "trainer_state"  # -> trainer_state.json + trainer_state.safetensors
LEGACY_STATE_FILE = "trainer_state.pt"


class CheckpointError(RuntimeError):
    """The run directory holds checkpoints, but none that can be resumed."""


def _log_sizes(trainer) -> dict[str, int]:
    return {name: os.path.getsize(path) if os.path.exists(path) else 0 for name, path in trainer.paths.items()}


def _rng_states() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])


class Checkpointable(Protocol):
    """What this module needs from the trainer it checkpoints, and nothing else.

    The trainer decides what its state is (`state_dict`, `load_state_dict`, `save_models`); this module adds the
    RNG states and the log sizes, writes and verifies the files, and resumes."""

    accelerator: Any  # accelerate.Accelerator: process rank, barriers
    is_main: bool  # the process that writes files
    output_dir: str  # the run directory (checkpoints/ and final/ go under it)
    paths: dict[str, str]  # append-only logs by name (cut back to a checkpoint's sizes on resume)
    buffer: Any  # the outcome buffer (`OutcomeBuffer`: truncate, reindex, len)
    keep_checkpoints: int
    step: int  # policy steps completed (the checkpoint's name)

    def state_dict(self) -> dict: ...  # everything but the weights, JSON and tensors only

    def load_state_dict(self, state: dict) -> None: ...

    def save_models(self, directory: str) -> None: ...  # policy/ (+ policy_adapter/), reference/ if reset, rm/, ...


def trainer_state(trainer: Checkpointable) -> dict:
    """Everything but the weights that a resumed run needs to continue exactly: the trainer's own state, the
    RNG states and where the logs stood."""
    return {
        **trainer.state_dict(),
        "rng": _rng_states(),
        "log_sizes": _log_sizes(trainer),
        "buffer_rows": len(trainer.buffer),
    }


def save(trainer) -> str | None:
    """Checkpoint the run (main process writes; every process waits for it)."""
    trainer.accelerator.wait_for_everyone()
    path = None
    if trainer.is_main:

        def write(tmp: str) -> None:
            trainer.save_models(tmp)
            save_state(trainer_state(trainer), os.path.join(tmp, STATE))

        path = save_checkpoint(trainer.output_dir, trainer.step, write, trainer.keep_checkpoints)
    trainer.accelerator.wait_for_everyone()
    return path


def resume(trainer, load_models: Callable[[str | None], None]) -> str | None:
    """Load models (`load_models(path)`) and state from the newest sound checkpoint; with none, load the
    initial models (`load_models(None)`) and move any logs aside (`set_aside_logs`). Returns the checkpoint
    used, or None."""
    failed: list[tuple[str, str]] = []  # checkpoints that passed the file check but did not load
    for _, path in reversed(list_checkpoints(trainer.output_dir)):
        if os.path.exists(os.path.join(path, LEGACY_STATE_FILE)):
            raise CheckpointError(
                f"{path} holds {LEGACY_STATE_FILE}, the pickled layout of an older version, which this one no "
                "longer reads (unpickling can run code). Finish that run with the version that wrote it, or "
                "start again in a new --output-dir."
            )
        problem = _on_every_process(trainer, lambda: verify_checkpoint(path) if trainer.is_main else None)
        if problem is not None:
            _set_aside(trainer, path, problem)
            continue
        problem, saved = _try_load(trainer, path, load_models)
        if problem is None:
            for bad, reason in failed:  # newer ones that failed to load while this one loads: they are bad
                _set_aside(trainer, bad, reason)
            later = len(trainer.buffer) - saved["buffer_rows"]
            _truncate_logs(trainer, saved)
            print(
                f"resumed from {path} at step {trainer.step}"
                + (
                    f" ({later} outcome rows written after it were dropped: the steps that wrote them run again and "
                    "write them anew)"
                    if later > 0 and trainer.is_main
                    else ""
                )
            )
            return path
        print(f"warning: cannot resume from {path}: {problem}; trying the checkpoint before it")
        failed.append((path, problem))
    _refuse_a_fresh_start(trainer, failed)
    load_models(None)
    set_aside_logs(trainer)
    return None


def _try_load(trainer, path: str, load_models) -> tuple[str | None, dict | None]:
    """(None, saved state) once models and state are loaded on every process, else (what failed, None)."""
    problem, saved = None, None
    try:
        load_models(path)
        saved = load_state(os.path.join(path, STATE))
        _apply(trainer, saved)
    except Exception as e:  # noqa: BLE001 - any failure means "not this checkpoint"; reported, not hidden
        problem = f"{type(e).__name__}: {e}"
    if trainer.accelerator.num_processes > 1:  # one process failing fails the checkpoint for all of them
        problem = next((p for p in gather_object([problem]) if p is not None), None)
    if problem is not None:
        trainer.accelerator.free_memory()  # drop the half-loaded models and optimizers accelerate holds on to
    return problem, saved


def _apply(trainer: Checkpointable, saved: dict) -> None:
    trainer.load_state_dict(saved)
    _set_rng_states(saved["rng"])


def _truncate_logs(trainer, saved: dict) -> None:
    trainer.accelerator.wait_for_everyone()
    if trainer.is_main:
        trainer.buffer.truncate(saved["buffer_rows"])
        for name, size in saved["log_sizes"].items():
            truncate_file(trainer.paths[name], size)
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_main:
        trainer.buffer.reindex()


def _on_every_process(trainer, compute: Callable[[], object]) -> object:
    """`compute()` on the main process, its result on every process (so all of them take the same path)."""
    value = compute()
    if trainer.accelerator.num_processes > 1:
        value = broadcast_object_list([value])[0]
    return value


def _set_aside(trainer, path: str, problem: str) -> None:
    if trainer.is_main:
        moved = set_aside(path)
        print(
            f"warning: checkpoint {path} is damaged: {problem}. Moved it to {moved} (delete it once you no "
            "longer need it) and resuming from the checkpoint before it, if any."
        )
    trainer.accelerator.wait_for_everyone()


def _refuse_a_fresh_start(trainer, failed: list[tuple[str, str]]) -> None:
    """Starting over would empty the logs of the run that wrote these checkpoints: the user decides."""
    if failed:
        reasons = "\n".join(f"  {path}: {problem}" for path, problem in failed)
        raise CheckpointError(
            f"no checkpoint in {trainer.output_dir} could be loaded:\n{reasons}\nIf the code or config changed "
            "since they were written, resume with what wrote them; to start over, use a new --output-dir."
        )
    damaged = set_aside_checkpoints(trainer.output_dir)
    if damaged:
        raise CheckpointError(
            f"every checkpoint in {trainer.output_dir} is damaged (set aside: {', '.join(damaged)}), and "
            "starting over would erase the logs of the run that wrote them. To start over anyway, use a new "
            "--output-dir, or delete those directories."
        )


def set_aside_logs(trainer) -> str | None:
    """No checkpoint, yet logs in the directory: they come from a run that stopped before its first checkpoint.
    They are moved to `DIR/incomplete-<time>/`, never emptied: their outcomes are verified completions in the
    buffer's format, data an RM can train on (`python -m reward_model.train --data .../outcomes.jsonl`). Returns
    where they went (None when there was nothing to move)."""
    moved = None
    if trainer.is_main:
        present = [path for path in trainer.paths.values() if os.path.exists(path) and os.path.getsize(path) > 0]
        if present:
            moved = os.path.join(trainer.output_dir, time.strftime("incomplete-%Y%m%d-%H%M%S"))
            while os.path.exists(moved):
                moved += "-again"
            os.makedirs(moved)
            for path in present:
                os.replace(path, os.path.join(moved, os.path.basename(path)))
            for path in trainer.paths.values():  # the rest (empty files) would only confuse the next reader
                if os.path.exists(path):
                    os.remove(path)
            rows = len(OutcomeBuffer(os.path.join(moved, "outcomes.jsonl")))
            print(
                f"{trainer.output_dir} held the logs of a run that stopped before its first checkpoint "
                f"({rows} verified outcomes): moved them to {moved} and starting at step 1. Its outcomes.jsonl "
                f"can train a reward model: python -m reward_model.train --data {moved}/outcomes.jsonl "
                "--output DIR, then --rm.init_from DIR"
            )
    trainer.accelerator.wait_for_everyone()
    trainer.buffer.reindex()
    return moved


def save_final(trainer) -> str:
    """`DIR/final/policy` and `DIR/final/rm`: the trained models, loadable with from_pretrained (and with LoRA,
    `DIR/final/policy_adapter`: the adapters alone; `rm_frozen/`, the RM's first version, once it is a model of
    its own). When the newest checkpoint holds this very step, final/ is made of hard links to its model files:
    the same bytes, no second copy on disk (deleting either directory later leaves the other whole)."""
    path = os.path.join(trainer.output_dir, "final")
    checkpoints = list_checkpoints(trainer.output_dir)
    if checkpoints and checkpoints[-1][0] == trainer.step:
        link_models(checkpoints[-1][1], path)
    else:
        trainer.save_models(path)
    return path


def link_models(checkpoint: str, path: str) -> None:
    """`path` gets every file of `checkpoint` but the trainer state and the manifest, as hard links (copies where
    the file system has none), replacing what was there."""
    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for directory, _, names in os.walk(checkpoint):
        target = os.path.join(tmp, os.path.relpath(directory, checkpoint))
        os.makedirs(target, exist_ok=True)
        for name in names:
            if directory == checkpoint and (name.startswith(STATE + ".") or name == MANIFEST):
                continue
            try:
                os.link(os.path.join(directory, name), os.path.join(target, name))
            except OSError:
                shutil.copy2(os.path.join(directory, name), os.path.join(target, name))
    shutil.rmtree(path, ignore_errors=True)
    os.rename(tmp, path)
