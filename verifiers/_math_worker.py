"""Child processes that run sympy comparisons under a hard time limit that works from any thread.

sympy can hang (simplify blow-ups) or eat memory, and no in-process timeout can stop C-level or
long-running Python work from a non-main thread. So comparisons run in persistent child processes,
spawned lazily (fresh interpreters, never forked from a threaded trainer) and reused; the host waits
on the child's pipe with `select` and, past the deadline, kills the child and raises `VerifierTimeout`.
The next call starts a new child. Requests and replies are JSON lines holding parsed trees (never
answer strings), so the child does not parse model text either. POSIX only (`select` on pipes).

Each child caps its own address space (`memory_limit_bytes`, 4 GiB). Where that cannot be set, its
first message says so: the pool records it in `memory_limit_error`, and warns once (`warnings.warn`).

The child entry point is `main(memory_limit_bytes)` (started with `python -c`, see `_CHILD_CODE`).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
import warnings

from verifiers._math_parse import VerifierTimeout

_STARTUP_TIMEOUT_S = 120.0  # importing sympy on a busy machine; not counted against a check's time limit
_MEMORY_LIMIT_BYTES = 4 << 30
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The child imports this very `verifiers` package (not another one on the path), and never a module from
# its working directory: a stray `math.py` or `json.py` there must not be imported in its place.
_CHILD_CODE = (
    f"import sys; sys.path[:] = [{_PACKAGE_ROOT!r}] + [p for p in sys.path if p not in ('', '.')]; "
    "from verifiers._math_worker import main; main(int(sys.argv[1]))"
)


class WorkerError(RuntimeError):
    """The child died or answered nonsense (it is restarted on the next call)."""


class _Worker:
    """One child process and a line reader over its stdout."""

    def __init__(self, memory_limit_bytes: int):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD_CODE, str(memory_limit_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.buffer = b""
        try:  # the child says "ready" once sympy is imported
            ready = json.loads(self.read_line(time.monotonic() + _STARTUP_TIMEOUT_S))
            self.memory_limit_error = ready["memory_limit_error"]
        except BaseException as e:
            self.kill()
            if isinstance(e, (VerifierTimeout, WorkerError, OSError, ValueError, KeyError, TypeError)):
                raise WorkerError(f"math worker failed to start: {type(e).__name__}: {e}") from None
            raise

    def read_line(self, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise VerifierTimeout("sympy comparison ran past its time limit")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise WorkerError("math worker exited")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def request(self, payload: dict, deadline: float) -> dict:
        self.proc.stdin.write(json.dumps(payload).encode() + b"\n")
        self.proc.stdin.flush()
        return json.loads(self.read_line(deadline))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class WorkerPool:
    """Idle children kept for reuse; a child that timed out or failed is killed, never returned."""

    def __init__(self, max_workers: int = 32, memory_limit_bytes: int = _MEMORY_LIMIT_BYTES):
        self.max_workers = max_workers
        self.memory_limit_bytes = memory_limit_bytes
        self.memory_limit_error: str | None = None  # set when a child could not cap its memory
        self.idle: list[_Worker] = []
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(max_workers)
        self.pid = os.getpid()

    def compare(self, gold_tree, pred_tree, rel_tol: float, timeout: float) -> dict:
        """The child's verdict {"equal": bool} or {"error": str}. Raises VerifierTimeout after `timeout` s.

        The clock starts once a child is ready, so starting one (importing sympy) is not counted.
        """
        with self.slots:
            worker = self._take()
            deadline = time.monotonic() + timeout
            try:
                reply = worker.request({"gold": gold_tree, "pred": pred_tree, "rel_tol": rel_tol}, deadline)
            except BaseException:
                worker.kill()  # timed out, died, or interrupted mid-request: its state is unknown
                raise
            with self.lock:
                self.idle.append(worker)
            return reply

    def _take(self) -> _Worker:
        with self.lock:
            if os.getpid() != self.pid:  # forked: the children belong to the parent process
                self.idle, self.pid = [], os.getpid()
            while self.idle:
                worker = self.idle.pop()
                if worker.proc.poll() is None:
                    return worker
        worker = _Worker(self.memory_limit_bytes)
        if worker.memory_limit_error:
            with self.lock:
                first, self.memory_limit_error = self.memory_limit_error is None, worker.memory_limit_error
            if first:  # once per pool, not once per child
                warnings.warn(
                    f"math verifier workers run without a memory limit: {worker.memory_limit_error}",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return worker

    def shutdown(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        if os.getpid() == self.pid:
            for worker in idle:
                worker.kill()


POOL = WorkerPool()
atexit.register(POOL.shutdown)


def _limit_memory(limit_bytes: int) -> str | None:
    """Cap this process's address space; the reason it could not be done, or None."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    except Exception as e:  # not available here (the host's time limit still applies): report it, go on
        return f"{type(e).__name__}: {e}"[:200]
    return None


def _exit_with_parent() -> None:
    """A child stuck in a long sympy call must not outlive a trainer that crashed (stdin EOF comes too late)."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main(memory_limit_bytes: int = _MEMORY_LIMIT_BYTES) -> None:
    """Child loop: read {"gold", "pred", "rel_tol"} lines, write {"equal": bool} or {"error": str} lines.

    The first line written is {"ready": true, "memory_limit_error": null or why the limit could not be set}.
    """
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # nothing sympy prints may corrupt the protocol
    memory_limit_error = _limit_memory(memory_limit_bytes)
    _exit_with_parent()
    sys.setrecursionlimit(5000)
    from verifiers._math_compare import equivalent

    out.write(json.dumps({"ready": True, "memory_limit_error": memory_limit_error}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            reply = {"equal": bool(equivalent(request["gold"], request["pred"], float(request["rel_tol"])))}
        except (Exception, RecursionError, MemoryError) as e:  # a bad answer is a verdict, not a crash
            reply = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
