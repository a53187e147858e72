"""One run per directory: `DIR/.lock`, held with `flock` by the process that writes DIR.

Two runs writing the same directory would interleave their rows in the logs and overwrite each other's
checkpoints. The lock is an advisory `fcntl.flock` on `DIR/.lock`, which the kernel drops when the
process exits, however it exits: a run killed with SIGKILL leaves no stale lock behind, so there is
nothing to clean up by hand. The file names the pid and host of its holder, for the message a second run
prints; a run that leaves its `with` block (finished, stopped, failed) deletes it, one killed leaves it, unlocked.
Under data-parallel launches only the main process writes files, so only it takes the lock (see
`orchestration/train_loop.py`). The descriptor is not inherited by subprocesses (the verifier workers); a child
forked without exec would share the lock until it exits.

    with hold_run_lock("runs/a"):   # raises RunDirectoryInUse if another process holds it
        ...
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager

LOCK_FILE = ".lock"


class RunDirectoryInUse(RuntimeError):
    """Another live process holds the run directory's lock."""


@contextmanager
def hold_run_lock(run_dir: str):
    """Hold `run_dir`'s lock for the duration of the `with` block (creating the directory if needed)."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: the holder's details stay readable
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirectoryInUse(_in_use_message(run_dir, path)) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield path
        os.unlink(path)  # a run that ends leaves no .lock behind (one killed does: it is harmless, see above)
    finally:
        os.close(fd)  # releases the lock


def _in_use_message(run_dir: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            holder = json.load(f)
        who = f"process {holder['pid']} on {holder['host']} (since {holder['since']})"
    except (OSError, ValueError, KeyError, TypeError):  # the holder has not written its details yet
        who = "another process"
    return (
        f"run directory {run_dir} is in use by {who}: two runs in one directory would mix their logs and "
        f"checkpoints. Wait for that run to finish or stop it, or pass another --output-dir."
    )
