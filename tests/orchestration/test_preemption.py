"""Runs that survive preemption and never restart silently (orchestration/preemption.py, run_state.set_aside_logs).

A real signal reaches a real `train_loop.py` process; the resumed run is compared with an uninterrupted one
as the SIGKILL test does (tests/orchestration/test_online.py)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from orchestration.buffer import OutcomeBuffer
from orchestration.config import load_config
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer
from orchestration.preemption import Preempted, StopOnSignal
from reward_model.data import load_records

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
B, K = 2, 4  # tiny_run_args: prompts per step, group size


def _cli(out, args):
    return [sys.executable, os.path.join(REPO, "orchestration", "train_loop.py"), "--output-dir", out, *args]


def _comparable(path):
    drop = ("timing/", "rm/update/seconds", "rm/update/examples_per_second")
    return [{k: v for k, v in m.items() if not k.startswith(drop)} for m in read_metrics(path)]


def _wait_for_rows(proc, path, n, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(path) and len(read_metrics(path)) >= n:
            return
        time.sleep(0.05)
    pytest.fail(f"the run wrote fewer than {n} metrics rows (exit {proc.poll()})")


def test_sigterm_checkpoints_the_step_under_way_and_the_resumed_run_equals_an_uninterrupted_one(
    tiny_run_args, tmp_path
):
    # No checkpoint but the last: only the signal can make one mid-run.
    args = tiny_run_args(**{"loop.max_steps": 6, "loop.checkpoint_every": 100, "loop.eval_every": 3})
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    full, stopped = str(tmp_path / "full"), str(tmp_path / "stopped")
    subprocess.run(_cli(full, args), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(_cli(stopped, args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_rows(proc, os.path.join(stopped, "metrics.jsonl"), 2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    (name,) = os.listdir(os.path.join(stopped, "checkpoints"))  # the signal's checkpoint, and no other
    done = int(name.removeprefix("step-"))
    assert 2 <= done < 6  # the step under way finished; the run did not go on to the end
    checkpoint = os.path.join(stopped, "checkpoints", name)
    assert f"stopped by SIGTERM after step {done} (checkpoint of step {done}: {checkpoint})" in err
    assert "Re-run the same command to resume" in err and "finishing this step" in out
    assert not os.path.exists(os.path.join(stopped, "final"))
    assert len(OutcomeBuffer(os.path.join(stopped, "outcomes.jsonl"))) == done * B * K
    # A step whose evaluation was due logs its row once the resumed run has evaluated it.
    pending = done % 3 == 0
    assert len(read_metrics(os.path.join(stopped, "metrics.jsonl"))) == done - pending
    assert ("its held-out evaluation runs first when it resumes" in err) == pending

    result = subprocess.run(_cli(stopped, args), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from {checkpoint} at step {done}" in result.stdout
    assert open(os.path.join(stopped, "outcomes.jsonl")).read() == open(os.path.join(full, "outcomes.jsonl")).read()
    assert _comparable(os.path.join(stopped, "metrics.jsonl")) == _comparable(os.path.join(full, "metrics.jsonl"))


def test_a_second_signal_exits_at_once(tiny_run_args, tmp_path):
    args = tiny_run_args(**{"loop.max_steps": 50, "loop.checkpoint_every": 100})
    out = str(tmp_path / "run")
    proc = subprocess.Popen(
        _cli(out, args),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_rows(proc, os.path.join(out, "metrics.jsonl"), 1)
    proc.send_signal(signal.SIGINT)
    # Two signals that arrive before Python runs its handler count as one: wait until the first was handled.
    for line in proc.stdout:
        if "SIGINT received" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT
    assert "SIGINT again: exiting now without a checkpoint" in err
    assert not os.path.exists(os.path.join(out, "checkpoints")) or not os.listdir(os.path.join(out, "checkpoints"))


def _signal_during_sampling(monkeypatch, trainer, on_call: int):
    """SIGTERM to this process from inside the `on_call`-th sampling call (1-based)."""
    real, calls = trainer._sample, []

    def sample(*args, **kwargs):
        calls.append(1)
        if len(calls) == on_call:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "_sample", sample)


def test_a_signal_during_the_initial_evaluation_stops_before_anything_is_written(tiny_run_args, tmp_path, monkeypatch):
    trainer = OnlineTrainer(load_config(None, tiny_run_args()), str(tmp_path))
    _signal_during_sampling(monkeypatch, trainer, on_call=1)  # the initial evaluation's greedy pass
    with pytest.raises(Preempted) as stopped:
        trainer.run()
    assert (stopped.value.step, stopped.value.checkpoint, stopped.value.exit_code) == (0, None, 143)
    assert "no step was completed" in str(stopped.value)
    assert not os.path.exists(tmp_path / "metrics.jsonl") or not read_metrics(str(tmp_path / "metrics.jsonl"))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the run's handler is gone with it


def test_a_signal_during_a_later_evaluation_abandons_it_and_the_resumed_run_does_it_first(
    tiny_run_args, tmp_path, monkeypatch
):
    """The step's row waits in the checkpoint for its evaluation; the resumed run evaluates, logs it, goes on,
    and its rows equal an uninterrupted run's."""
    args = tiny_run_args(**{"loop.initial_eval": False, "loop.eval_every": 2, "loop.checkpoint_every": 100})
    full = tmp_path / "full"
    OnlineTrainer(load_config(None, args), str(full)).run()
    trainer = OnlineTrainer(load_config(None, args), str(tmp_path / "run"))
    _signal_during_sampling(monkeypatch, trainer, on_call=3)  # steps 1 and 2 sample, then step 2's evaluation
    with pytest.raises(Preempted) as stopped:
        trainer.run()
    assert stopped.value.step == 2 and stopped.value.checkpoint.endswith(os.path.join("checkpoints", "step-000002"))
    assert "its held-out evaluation runs first when it resumes" in str(stopped.value)
    assert [row["step"] for row in read_metrics(str(tmp_path / "run" / "metrics.jsonl"))] == [1]
    monkeypatch.undo()
    OnlineTrainer(load_config(None, args), str(tmp_path / "run")).run()
    rows = _comparable(str(tmp_path / "run" / "metrics.jsonl"))
    assert [row["step"] for row in rows] == [1, 2, 3, 4] and "eval/greedy_accuracy" in rows[1]
    assert rows == _comparable(str(full / "metrics.jsonl"))


def test_stop_on_signal_records_the_first_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGUSR1)
    with StopOnSignal(announce=lambda line: None) as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.requested and stop.signum == signal.SIGUSR1
    assert signal.getsignal(signal.SIGUSR1) is before


def test_logs_of_a_run_without_a_checkpoint_are_moved_aside_never_emptied(tiny_run_args, tmp_path, capsys):
    """A run that died before its first checkpoint: re-running the command starts at step 1, and the verified
    outcomes it had written are kept, in the buffer's format, ready to train a reward model."""
    cfg = load_config(None, tiny_run_args(**{"loop.checkpoint_every": 100}))
    first = OnlineTrainer(cfg, str(tmp_path))
    first.train_step()
    written = open(tmp_path / "outcomes.jsonl").read()
    assert len(written.splitlines()) == B * K
    again = OnlineTrainer(cfg, str(tmp_path))
    out = capsys.readouterr().out
    moved = [name for name in os.listdir(tmp_path) if name.startswith("incomplete-")]
    assert len(moved) == 1
    assert f"moved them to {tmp_path / moved[0]}" in out and f"({B * K} verified outcomes)" in out
    assert open(tmp_path / moved[0] / "outcomes.jsonl").read() == written  # byte for byte
    assert len(load_records(str(tmp_path / moved[0] / "outcomes.jsonl"))) == B * K  # reward_model.train reads it
    assert len(again.buffer) == 0 and again.step == 0
    again.train_step()
    assert len(OutcomeBuffer(str(tmp_path / "outcomes.jsonl"))) == B * K
