"""Atomic, rotating checkpoints: `DIR/checkpoints/step-000010/`, the newest `keep` kept.

A checkpoint is written into a hidden temporary directory, fsynced, then renamed into place: a reader
(the resume logic) sees either a complete checkpoint or none, whenever the writer is killed. What goes
inside is the loop's business (`orchestration.run_state`); this module only owns the atomicity.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable

_NAME = re.compile(r"^step-(\d+)$")


def checkpoint_dir(run_dir: str) -> str:
    return os.path.join(run_dir, "checkpoints")


def list_checkpoints(run_dir: str) -> list[tuple[int, str]]:
    """Complete checkpoints as `(step, path)`, oldest first."""
    root = checkpoint_dir(run_dir)
    if not os.path.isdir(root):
        return []
    found = [(int(m[1]), os.path.join(root, name)) for name in os.listdir(root) if (m := _NAME.match(name))]
    return sorted(found)


def latest_checkpoint(run_dir: str) -> str | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def save_checkpoint(run_dir: str, step: int, write: Callable[[str], None], keep: int) -> str:
    """Call `write(tmp_dir)` to fill a fresh directory, then publish it atomically as `step-NNNNNN`."""
    root = checkpoint_dir(run_dir)
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"step-{step:06d}")
    tmp = os.path.join(root, f".tmp-step-{step:06d}")
    shutil.rmtree(tmp, ignore_errors=True)  # left by a writer that was killed
    os.makedirs(tmp)
    write(tmp)
    _fsync_tree(tmp)
    if os.path.exists(final):  # re-saving a step (e.g. the final save right after a periodic one)
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync_dir(root)
    for _, old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _fsync_tree(path: str) -> None:
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(dirpath)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def truncate_file(path: str, size: int) -> None:
    """Cut an append-only log back to `size` bytes (what it held at the checkpoint)."""
    if not os.path.exists(path):
        if size:
            raise FileNotFoundError(f"{path} is missing but the checkpoint expects {size} bytes in it")
        return
    actual = os.path.getsize(path)
    if actual < size:
        raise ValueError(f"{path} holds {actual} bytes, fewer than the {size} the checkpoint recorded")
    with open(path, "r+b") as f:
        f.truncate(size)
