"""Run untrusted Python source in a fresh, isolated, resource-limited child interpreter (Linux).

    from verifiers.sandbox import SandboxLimits, run_python
    result = run_python("print(sum(range(10)))", limits=SandboxLimits(wall_seconds=5))
    result.stdout  # b"45\\n"

Each call starts `sys.executable -I -S` in its own session (process group) with a scrubbed environment and
a working directory that is removed afterwards. `verifiers/_sandbox_setup.py` isolates the child while it
is root, then execs `verifiers/_sandbox_enter.py`, which switches uid and runs the source. What it guarantees
depends on the privileges of the host process:

As root (our CI and training machines), each run gets a uid of its own (`verifiers._sandbox_procs`) and:
- no network: a fresh network namespace with no interfaces up;
- no writes outside its working directory: it is not root, owns nothing but its working directory, and the
  world-writable directories (/tmp, /var/tmp, /dev/shm, /run/lock) are replaced by private size-capped tmpfs
  mounts in its own mount namespace; its working directory is a size-capped tmpfs too;
- limits: CPU seconds, address space, file size, open files and processes (RLIMIT_NPROC, which root would
  ignore, holds for the dropped uid), a wall-clock timeout, and captured output capped (killed past the cap);
- it cannot signal the host (different uid) nor other runs (each has its own uid); PR_SET_NO_NEW_PRIVS stops
  setuid binaries; its interpreter is non-dumpable (no ptrace or /proc/pid/mem by its own children); when
  the run ends every process of its uid is killed, so nothing it forked (even with `setsid`) survives.

The interpreter: stage two runs the host's own `sys.executable`, which may sit where the sandbox would not
see it (a venv under /tmp, which it masks, or under a home directory the sandbox uid may not enter). The host
lists what that interpreter reads (`_interpreter_paths`): the directory of `sys.executable` as spelled (a
venv's bin/), each directory of its symlink chain, its installation (`sys.base_prefix`, `sys.base_exec_prefix`:
stdlib, lib-dynload, libpython), the venv's `pyvenv.cfg`, its site-packages and the stdlib entries of
`sys.path`. Stage one bind-mounts, read-only, those of them that would be hidden, and nothing else.

It is NOT a container: it shares the kernel (a kernel exploit escapes it), it can read every world-readable
file on the machine and see other processes in /proc (command lines included), there is no seccomp filter,
and memory is capped per process (address space), not per run. If the host process dies mid-run, a
sandboxed process that sleeps survives until the next run that claims its uid kills it. Without root there
is no uid switch and no mount namespace: the source runs as the host user (it could write where the host
user can, and signal the host), the process count is not limited, and network access is blocked by a
user+network namespace where the kernel allows one, else only by a Python-level socket shim that native
code can bypass. `SandboxResult.isolation` says which applied.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from verifiers._sandbox_procs import claim_uid, kill_everything, live_pids_of_uid

__all__ = ["SandboxLimits", "SandboxResult", "run_python", "live_pids_of_uid"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_STAGE_SOURCES: dict[str, str] = {}  # file name -> text: the child runs them with -c, never imports them


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float = field(default=10.0, metadata={"help": "wall-clock timeout; the whole run is killed after it"})
    cpu_seconds: int = field(default=10, metadata={"help": "RLIMIT_CPU of each process"})
    memory_bytes: int = field(default=1 << 30, metadata={"help": "RLIMIT_AS (address space) of each process"})
    file_size_bytes: int = field(default=16 << 20, metadata={"help": "RLIMIT_FSIZE: largest file it may write"})
    tmpfs_bytes: int = field(
        default=64 << 20, metadata={"help": "size of its private working dir and /tmp (root only)"}
    )
    nproc: int = field(default=32, metadata={"help": "RLIMIT_NPROC: processes and threads of its uid (root only)"})
    nofile: int = field(default=128, metadata={"help": "RLIMIT_NOFILE: open file descriptors per process"})
    max_output_bytes: int = field(default=1 << 20, metadata={"help": "stdout+stderr kept; killed past it"})
    uid_base: int = field(default=61000, metadata={"help": "first uid of the sandbox uid range (root only)"})
    uid_count: int = field(default=1024, metadata={"help": "size of the sandbox uid range (max parallel runs)"})

    def __post_init__(self):
        if not self.wall_seconds > 0:
            raise ValueError(f"SandboxLimits.wall_seconds must be > 0, got {self.wall_seconds}")
        for name in (
            "cpu_seconds",
            "memory_bytes",
            "file_size_bytes",
            "tmpfs_bytes",
            "nproc",
            "nofile",
            "max_output_bytes",
            "uid_count",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"SandboxLimits.{name} must be >= 1, got {getattr(self, name)}")
        if self.uid_base < 1000:
            raise ValueError(f"SandboxLimits.uid_base must be >= 1000 (an unused uid range), got {self.uid_base}")


@dataclass
class SandboxResult:
    returncode: int | None  # None when it was killed by us (timeout / output cap)
    stdout: bytes  # capped at limits.max_output_bytes (with stderr)
    stderr: bytes
    channel: bytes  # what the source wrote to fd SANDBOX_CHANNEL (its private result pipe)
    timed_out: bool
    output_overflow: bool
    killed_by_signal: int | None  # the signal that ended the main process, if any
    seconds: float
    isolation: dict[str, Any]  # reported by the child before any untrusted code ran; {} if setup failed
    setup_error: str | None = None  # why the sandbox failed before running the source (not the source's fault)


def run_python(
    source: str, *, stdin: bytes = b"", limits: SandboxLimits | None = None, payload: bytes = b""
) -> SandboxResult:
    """Run `source` as `__main__` of a sandboxed child; never raises because of what the source does.

    The source sees two globals: `SANDBOX_PAYLOAD` (the `payload` bytes) and `SANDBOX_CHANNEL` (a write-only
    fd whose data comes back as `SandboxResult.channel`, apart from stdout).
    """
    limits = limits or SandboxLimits()
    start = time.monotonic()
    with claim_uid(limits.uid_base, limits.uid_count) as uid, _workdir(uid) as workdir:
        config = {
            "uid": uid,
            "workdir": workdir,
            "parent_pid": os.getpid(),
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_bytes,
            "file_size_bytes": limits.file_size_bytes,
            "tmpfs_bytes": limits.tmpfs_bytes,
            "nproc": limits.nproc,
            "nofile": limits.nofile,
            "source": source,
            "payload": payload.decode("latin-1"),
        }
        proc, channel_read = _spawn(config, workdir)
        try:
            streams = _pump(proc, channel_read, stdin, limits, start)
        finally:
            kill_everything(proc.pid, uid)
            os.close(channel_read)
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                stream.close()
    (stdout, stderr, channel), timed_out, overflow = streams
    first, _, rest = channel.partition(b"\n")
    isolation, setup_error = _parse_first_line(first)
    reported = bool(isolation) or setup_error is not None
    code = proc.returncode
    if not reported and not (timed_out or overflow):
        setup_error = _silent_setup_failure(code, stderr)
    return SandboxResult(
        returncode=None if (timed_out or overflow) else code,
        stdout=stdout,
        stderr=stderr,
        channel=rest if reported else channel,
        timed_out=timed_out,
        output_overflow=overflow,
        killed_by_signal=-code if code is not None and code < 0 else None,
        seconds=time.monotonic() - start,
        isolation=isolation,
        setup_error=setup_error,
    )


def _stage_source(name: str) -> str:
    if name not in _STAGE_SOURCES:
        with open(os.path.join(_HERE, name), encoding="utf-8") as f:
            _STAGE_SOURCES[name] = f.read()
    return _STAGE_SOURCES[name]


def _site_dirs() -> list[str]:
    """site-packages of this interpreter (or venv). The child runs with -S: it gets these directories on its
    path but never runs their .pth files (host start-up hooks, 50+ ms each start, none of its business)."""
    import site

    return [d for d in site.getsitepackages() if os.path.isdir(d)]


def _interpreter_paths() -> list[str]:
    """Everything the sandboxed interpreter reads, spelled as the host sees it (see the module docstring).

    Stage one re-exposes, read-only, only those that the sandbox uid could not otherwise reach."""
    executable = os.path.abspath(sys.executable)
    paths = [os.path.dirname(executable), os.path.join(sys.prefix, "pyvenv.cfg"), *_site_dirs()]
    hop = executable
    for _ in range(40):  # venv/bin/python -> python3.11 -> /base/bin/python3.11: every hop must resolve
        if not os.path.islink(hop):
            break
        hop = os.path.normpath(os.path.join(os.path.dirname(hop), os.readlink(hop)))
        paths.append(os.path.dirname(hop))
    paths.append(os.path.dirname(os.path.realpath(executable)))
    installation = [sys.base_prefix, sys.base_exec_prefix]
    paths += installation
    paths += [p for p in sys.path if p and any(_is_within(p, base) for base in installation)]
    libdir = sysconfig.get_config_var("LIBDIR")  # libpython, if base_prefix is too broad for stage one to expose
    paths += [libdir] if libdir else []
    return sorted({os.path.abspath(p) for p in paths if os.path.exists(p)})


def _is_within(path: str, directory: str) -> bool:
    path, directory = os.path.abspath(path), os.path.abspath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _spawn(config: dict, workdir: str) -> tuple[subprocess.Popen, int]:
    channel_read, channel_write = os.pipe()
    config["channel_fd"] = channel_write
    config["executable"] = sys.executable
    config["site_dirs"] = _site_dirs()
    config["interpreter_paths"] = _interpreter_paths()
    config["stage_two_source"] = _stage_source("_sandbox_enter.py")
    with tempfile.TemporaryFile() as cfg_file:  # unlinked; readable only through the inherited fd
        cfg_file.write(json.dumps(config).encode())
        cfg_file.seek(0)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": workdir,
            "TMPDIR": workdir,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _stage_source("_sandbox_setup.py"), str(cfg_file.fileno())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(cfg_file.fileno(), channel_write),
                env=env,
                cwd=workdir,
                start_new_session=True,
            )
        except BaseException:
            os.close(channel_read)
            raise
        finally:
            os.close(channel_write)
    return proc, channel_read


def _pump(proc: subprocess.Popen, channel_read: int, stdin: bytes, limits: SandboxLimits, start: float):
    """Feed stdin and collect stdout/stderr/channel until the main process exits, the timeout, or overflow."""
    out_fd, err_fd, in_fd = proc.stdout.fileno(), proc.stderr.fileno(), proc.stdin.fileno()
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: [], channel_read: []}
    sizes = dict.fromkeys(chunks, 0)
    pending, open_fds = memoryview(stdin), set(chunks)
    poller = select.poll()  # not select(): a trainer may hold more than FD_SETSIZE descriptors
    for fd in chunks:
        poller.register(fd, select.POLLIN)
    if pending:
        os.set_blocking(in_fd, False)
        poller.register(in_fd, select.POLLOUT)
    else:
        proc.stdin.close()
    timed_out = overflow = False
    deadline = start + limits.wall_seconds
    while True:
        exited = _has_exited(proc.pid)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = not exited
            break
        if not open_fds:
            if exited:
                break
            time.sleep(min(remaining, 0.01))
            continue
        # Once the main process has exited, only drain what is already buffered (descendants may hold the
        # pipes open forever); until then wake up now and then to notice its exit.
        events = poller.poll(0 if exited else min(remaining, 0.05) * 1000)
        got_data = False
        for fd, event in events:
            if fd == in_fd:
                pending = _feed(proc, poller, pending)
                continue
            data = os.read(fd, 1 << 16)
            if not data:
                open_fds.discard(fd)
                poller.unregister(fd)
            got_data = got_data or bool(data)
            sizes[fd] += len(data)
            chunks[fd].append(data)
        if sizes[out_fd] + sizes[err_fd] > limits.max_output_bytes or sizes[channel_read] > limits.max_output_bytes:
            overflow = True
            break
        if exited and not got_data:
            break
    if not proc.stdin.closed:
        proc.stdin.close()
    cap = limits.max_output_bytes
    return tuple(b"".join(chunks[fd])[:cap] for fd in (out_fd, err_fd, channel_read)), timed_out, overflow


def _feed(proc: subprocess.Popen, poller: select.poll, pending: memoryview) -> memoryview:
    """Write what the pipe takes now; close stdin once everything is written or the child stopped reading."""
    try:
        pending = pending[os.write(proc.stdin.fileno(), pending) :]
    except BlockingIOError:
        return pending
    except BrokenPipeError:
        pending = pending[:0]
    if not pending:
        poller.unregister(proc.stdin.fileno())
        proc.stdin.close()
    return pending


def _has_exited(pid: int) -> bool:
    """True once `pid` is a zombie; it is not reaped, so its pid (and process group id) stays reserved."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _parse_first_line(line: bytes) -> tuple[dict[str, Any], str | None]:
    """The isolation report, or the setup error, that the child wrote before any untrusted code ran."""
    try:
        record = json.loads(line)
    except ValueError:
        return {}, None
    if not isinstance(record, dict):
        return {}, None
    if isinstance(record.get("sandbox_error"), str):
        return {}, record["sandbox_error"]
    return (record["sandbox"] if isinstance(record.get("sandbox"), dict) else {}), None


def _silent_setup_failure(returncode: int | None, stderr: bytes) -> str:
    """The child ended before reporting, e.g. the interpreter found no stdlib: say so, with its last words."""
    last_line = next((line for line in reversed(stderr.decode(errors="replace").splitlines()) if line.strip()), "")
    how = (
        f"was killed by signal {-returncode}"
        if returncode is not None and returncode < 0
        else (f"exited (status {returncode})")
    )
    return f"the sandboxed interpreter {sys.executable} {how} before running the source" + (
        f": {last_line.strip()[:300]}" if last_line else ""
    )


@contextmanager
def _workdir(uid: int | None) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="sandbox-")
    try:
        if uid is not None:
            os.chown(path, uid, uid)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
