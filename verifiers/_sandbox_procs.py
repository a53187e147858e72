"""Processes and uids of sandbox runs: claim a uid no other run uses, and kill everything a run left behind.

Root only: each run gets its own uid from `SandboxLimits.uid_base .. uid_base + uid_count`, claimed with an
flock on a lock file (so parallel threads *and* parallel host processes never share one; a crashed host's
lock is released by the kernel). A dedicated uid makes RLIMIT_NPROC count exactly this run's processes,
stops a run from signalling other runs, and lets cleanup find every process it started, even with `setsid`.
"""

from __future__ import annotations

import fcntl
import os
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Iterator

_LOCK_DIR = os.path.join(tempfile.gettempdir(), "verifiers-sandbox-uids")
_UID_CLAIM_LOCK = threading.Lock()


def kill_everything(pgid: int | None, uid: int | None) -> None:
    """Kill the run's process group and, with a sandbox uid, every live process of that uid (setsid escapees)."""
    if pgid is not None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if uid is None:
        return
    for _ in range(100):  # a fork loop may race the scan; RLIMIT_NPROC bounds it, so a few rounds suffice
        pids = live_pids_of_uid(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.002)


def live_pids_of_uid(uid: int) -> list[int]:
    """Pids of non-zombie processes whose real uid is `uid` (read from /proc)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(b":", 1) for line in status.splitlines() if b":" in line)
        if int(fields.get(b"Uid", b"-1 ").split()[0]) == uid and not fields.get(b"State", b"").strip().startswith(b"Z"):
            pids.append(int(name))
    return pids


@contextmanager
def claim_uid(uid_base: int, uid_count: int) -> Iterator[int | None]:
    """Claim a uid no other run (in any process on this host) is using; None when we are not root."""
    if os.geteuid() != 0:
        yield None
        return
    os.makedirs(_LOCK_DIR, mode=0o700, exist_ok=True)
    with _UID_CLAIM_LOCK:  # one claimer per process at a time; flock arbitrates between processes
        for uid in range(uid_base, uid_base + uid_count):
            fd = os.open(os.path.join(_LOCK_DIR, str(uid)), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                os.close(fd)
        else:
            raise OSError(f"all {uid_count} sandbox uids are busy; raise SandboxLimits.uid_count")
    try:
        kill_everything(None, uid)  # leftovers of a host that crashed while holding this uid
        yield uid
    finally:
        os.close(fd)  # releases the flock
