"""Child processes that run sympy comparisons under a hard time limit that works from any thread.

sympy can hang (simplify blow-ups) or eat memory, and no in-process timeout can stop C-level or
long-running Python work from a non-main thread. So comparisons run in persistent child processes,
spawned lazily (fresh interpreters, never forked from a threaded trainer) and reused; the host waits
on the child's pipe with `select` and, past the deadline, kills the child and raises `VerifierTimeout`.
The next call starts a new child. Requests and replies are JSON lines holding parsed trees (never
answer strings), so the child does not parse model text either. POSIX only (`select` on pipes).

The child entry point is `main()` (started with `python -c`, see `_CHILD_CODE`).
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

from verifiers._math_parse import VerifierTimeout

_STARTUP_TIMEOUT_S = 120.0  # importing sympy on a busy machine; not counted against a check's time limit
_MEMORY_LIMIT_BYTES = 4 << 30
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The child imports this very `verifiers` package (not another one on the path), and never a module from
# its working directory: a stray `math.py` or `json.py` there must not be imported in its place.
_CHILD_CODE = (f"import sys; sys.path[:] = [{_PACKAGE_ROOT!r}] + [p for p in sys.path if p not in ('', '.')]; "
               "from verifiers._math_worker import main; main()")


class WorkerError(RuntimeError):
    """The child died or answered nonsense (it is restarted on the next call)."""


class _Worker:
    """One child process and a line reader over its stdout."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD_CODE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.buffer = b""
        try:  # the child says "ready" once sympy is imported
            self.read_line(time.monotonic() + _STARTUP_TIMEOUT_S)
        except BaseException as e:
            self.kill()
            if isinstance(e, (VerifierTimeout, WorkerError, OSError)):
                raise WorkerError(f"math worker failed to start: {e}") from None
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

    def __init__(self, max_workers: int = 32):
        self.max_workers = max_workers
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
        return _Worker()

    def shutdown(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        if os.getpid() == self.pid:
            for worker in idle:
                worker.kill()


POOL = WorkerPool()
atexit.register(POOL.shutdown)


def _limit_memory() -> None:
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_LIMIT_BYTES, _MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass  # not available on this platform; the host's time limit still applies


def _exit_with_parent() -> None:
    """A child stuck in a long sympy call must not outlive a trainer that crashed (stdin EOF comes too late)."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main() -> None:
    """Child loop: read {"gold", "pred", "rel_tol"} lines, write {"equal": bool} or {"error": str} lines."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # nothing sympy prints may corrupt the protocol
    _limit_memory()
    _exit_with_parent()
    sys.setrecursionlimit(5000)
    from verifiers._math_compare import equivalent
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            reply = {"equal": bool(equivalent(request["gold"], request["pred"], float(request["rel_tol"])))}
        except (Exception, RecursionError, MemoryError) as e:  # a bad answer is a verdict, not a crash
            reply = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
