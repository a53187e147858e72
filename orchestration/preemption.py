"""Graceful stops: SIGTERM, SIGINT and SIGUSR1 end a run at the next step boundary with a checkpoint.

A cluster stops a job by signal: Kubernetes and SLURM send SIGTERM and, after a grace period, SIGKILL; SLURM's
`--signal=USR1@120` sends SIGUSR1 two minutes before the time limit; Ctrl-C is SIGINT. Killed mid-step, a run
loses every step since its last checkpoint (up to `loop.checkpoint_every`). So, while the loop runs:

- the first signal asks for a stop: the step under way finishes (an evaluation under way is abandoned, on a
  single process), a checkpoint of that step is written, the run says how to resume and exits with 128 + the
  signal's number (143 for SIGTERM), which schedulers read as "interrupted";
- a second signal exits at once (exit status 128 + signal), as a user pressing Ctrl-C twice expects. The files
  are safe: checkpoints are written to a temporary directory and renamed, and a resume cuts the append-only logs
  back to what its checkpoint recorded.

    with StopOnSignal() as stop:
        ...
        if stop.requested: ...

Handlers can only be set in the main thread; elsewhere (a loop driven from a worker thread) nothing is
installed and signals keep their usual effect.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

SIGNALS = tuple(s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGUSR1", None)) if s is not None)


class Preempted(Exception):
    """The run stopped at a step boundary on a signal; `checkpoint` holds the last completed step (None when
    nothing was trained yet)."""

    def __init__(self, signum: int, step: int, checkpoint: str | None, note: str = ""):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        where = f"checkpoint of step {step}: {checkpoint}" if checkpoint else "no step was completed, nothing to save"
        super().__init__(
            f"stopped by {signal.Signals(signum).name} after step {step} ({where}){note}. Re-run the "
            "same command to resume."
        )

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopOnSignal:
    """Records the first stop signal; the second exits the process at once."""

    def __init__(self, announce=print):
        self.signum: int | None = None
        self.announce = announce
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:  # the second one: no more waiting
            sys.stderr.write(f"\n{signal.Signals(signum).name} again: exiting now without a checkpoint\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        self.signum = signum
        self.announce(
            f"\n{signal.Signals(signum).name} received: finishing this step, then writing a checkpoint "
            "(send it again to exit at once)"
        )

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
