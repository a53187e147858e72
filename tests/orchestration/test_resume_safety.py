"""Resuming is safe: nothing is unpickled, a damaged newest checkpoint is set aside and the run resumes from
the one before it (logs cut back to that one's sizes), and a directory with no usable checkpoint is refused
rather than silently started over."""

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from orchestration import run_state
from orchestration.buffer import OutcomeBuffer
from orchestration.checkpoint import MANIFEST, _write_manifest, verify_checkpoint
from orchestration.config import load_config
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer
from orchestration.run_state import CheckpointError, trainer_state
from orchestration.state_io import load_state

B, K = 2, 4  # prompts per step, group size (tiny_run_args)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_run_args):
    """A 4-step run with checkpoints at steps 2 and 4; module-scoped because every test copies it."""
    out = str(tmp_path_factory.mktemp("finished") / "run")
    args = tiny_run_args()
    trainer = OnlineTrainer(load_config(None, args), out)
    trainer.run()
    return trainer, out, args


def _copy(finished, tmp_path) -> str:
    _, out, _ = finished
    copy = str(tmp_path / "run")
    shutil.copytree(out, copy)
    return copy


def _checkpoint(run, step) -> str:
    return os.path.join(run, "checkpoints", f"step-{step:06d}")


def _unloadable(checkpoint):
    """Files that match their manifest but do not load (e.g. written by other code)."""
    Path(checkpoint, "trainer_state.json").write_text('{"format": 1, "state": {}}')
    os.remove(os.path.join(checkpoint, MANIFEST))
    _write_manifest(checkpoint)


DAMAGE = {
    "truncated weights": lambda c: os.truncate(os.path.join(c, "policy", "model.safetensors"), 1000),
    "missing file": lambda c: os.remove(os.path.join(c, "trainer_state.safetensors")),
    "corrupt manifest": lambda c: Path(c, MANIFEST).write_text("{not json"),
    "unloadable state": _unloadable,
}


def test_checkpoints_hold_no_pickle_and_their_state_round_trips(finished, same_state):
    trainer, out, _ = finished
    files = [p.name for p in Path(out, "checkpoints").rglob("*") if p.is_file()]
    assert "trainer_state.json" in files and "trainer_state.safetensors" in files and MANIFEST in files
    assert not [f for f in files if f.endswith((".pt", ".pth", ".pkl", ".bin"))]
    # The step-4 checkpoint was the last thing the run did: what it holds is exactly the live state.
    same_state(trainer_state(trainer), load_state(os.path.join(_checkpoint(out, 4), run_state.STATE)))


def test_resume_reads_no_pickle(finished, tmp_path, monkeypatch):
    run = _copy(finished, tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("resume unpickled something")

    for module, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    trainer = OnlineTrainer(load_config(None, finished[2]), run)
    assert trainer.state.step == 4 and trainer.updater.optimizer_steps == finished[0].updater.optimizer_steps


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_one_before_resumed(finished, tmp_path, capsys, damage):
    run = _copy(finished, tmp_path)
    DAMAGE[damage](_checkpoint(run, 4))
    trainer = OnlineTrainer(load_config(None, finished[2]), run)
    out = capsys.readouterr().out
    assert trainer.state.step == 2 and f"resumed from {_checkpoint(run, 2)}" in out
    assert f"{_checkpoint(run, 4)}" in out and f"Moved it to {_checkpoint(run, 4)}.corrupt" in out
    assert os.path.isdir(_checkpoint(run, 4) + ".corrupt") and not os.path.exists(_checkpoint(run, 4))
    # The logs are cut back to step 2's sizes, not step 4's: the re-run steps duplicate nothing.
    assert [m["step"] for m in read_metrics(os.path.join(run, "metrics.jsonl"))] == [1, 2]
    assert len(OutcomeBuffer(os.path.join(run, "outcomes.jsonl"))) == 2 * B * K


def test_after_falling_back_the_run_finishes_as_if_uninterrupted(finished, tmp_path):
    _, out, args = finished
    run = _copy(finished, tmp_path)
    DAMAGE["truncated weights"](_checkpoint(run, 4))
    OnlineTrainer(load_config(None, args), run).run()
    assert Path(run, "outcomes.jsonl").read_text() == Path(out, "outcomes.jsonl").read_text()
    assert verify_checkpoint(_checkpoint(run, 4)) is None  # written afresh beside the set-aside one


def test_every_checkpoint_damaged_is_refused_and_stays_refused(finished, tmp_path):
    run = _copy(finished, tmp_path)
    for step in (2, 4):
        DAMAGE["missing file"](_checkpoint(run, step))
    metrics_before = Path(run, "metrics.jsonl").read_text()
    for _ in range(2):  # the second attempt finds only set-aside checkpoints: still no silent fresh start
        with pytest.raises(CheckpointError, match=r"every checkpoint in .* is damaged .*new --output-dir"):
            OnlineTrainer(load_config(None, finished[2]), run)
    assert Path(run, "metrics.jsonl").read_text() == metrics_before  # the old run's logs are untouched


def test_no_checkpoint_loads_is_refused_without_setting_any_aside(finished, tmp_path):
    run = _copy(finished, tmp_path)
    for step in (2, 4):
        _unloadable(_checkpoint(run, step))
    with pytest.raises(CheckpointError, match=r"no checkpoint in .* could be loaded:\n.*step-000004: ValueError"):
        OnlineTrainer(load_config(None, finished[2]), run)
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == ["step-000002", "step-000004"]


def test_a_pickled_checkpoint_of_an_older_version_is_refused(finished, tmp_path):
    run = _copy(finished, tmp_path)
    Path(_checkpoint(run, 4), "trainer_state.pt").write_bytes(b"not read")
    with pytest.raises(CheckpointError, match=r"step-000004 holds trainer_state.pt, the pickled layout"):
        OnlineTrainer(load_config(None, finished[2]), run)


def test_run_state_needs_only_its_declared_interface(finished, tmp_path, same_state):
    """run_state.Checkpointable lists what checkpointing reads from a trainer: a stand-in holding exactly those
    members saves a checkpoint that a real trainer then resumes from."""
    import types

    trainer, _, args = finished
    members = [name for name in run_state.Checkpointable.__annotations__] + [
        "state_dict",
        "load_state_dict",
        "save_models",
    ]
    out = _copy(finished, tmp_path)  # the logs, without its checkpoints
    shutil.rmtree(os.path.join(out, "checkpoints"))
    stand_in = types.SimpleNamespace(**{name: getattr(trainer, name) for name in members})
    stand_in.output_dir = out
    path = run_state.save(stand_in)
    assert verify_checkpoint(path) is None and path.endswith("step-000004")
    resumed = OnlineTrainer(load_config(None, args), out)
    assert resumed.step == 4
    same_state(trainer.state_dict(), resumed.state_dict())
