"""One run per directory: a second run on a directory in use exits naming the holder, before writing
anything; the lock goes with its holder, even one killed with SIGKILL."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.run_lock import LOCK_FILE, RunDirectoryInUse, hold_run_lock
from orchestration.train_loop import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOLD = (
    "import sys, time; sys.path.insert(0, sys.argv[1]); from orchestration.run_lock import hold_run_lock\n"
    "with hold_run_lock(sys.argv[2]):\n    print('held', flush=True)\n    time.sleep(600)"
)


def test_a_second_holder_is_refused_until_the_first_lets_go(tmp_path):
    run = str(tmp_path / "run")
    with hold_run_lock(run) as path:
        holder = json.loads(Path(path).read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(RunDirectoryInUse, match=rf"{run} is in use by process {os.getpid()} on "):
            with hold_run_lock(run):
                pass
        assert os.path.exists(path)  # the refused one did not take the holder's file away
    assert not os.path.exists(path)  # a holder that lets go leaves no .lock behind
    with hold_run_lock(run):  # released
        pass


def test_a_second_run_exits_naming_the_holder_and_writes_nothing(tmp_path, tiny_run_args):
    run = str(tmp_path / "run")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, REPO, run], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(SystemExit) as refused:
            main(["--output-dir", run, *tiny_run_args()])
        assert f"run directory {run} is in use by process {holder.pid}" in str(refused.value)
        assert os.listdir(run) == [LOCK_FILE]  # no config.yaml, no logs
    finally:
        holder.send_signal(signal.SIGKILL)  # a killed holder must not leave a stale lock
        holder.wait()
    assert os.path.exists(os.path.join(run, LOCK_FILE))  # its file stays, unlocked
    with hold_run_lock(run):
        pass
