"""What a run leaves on disk: final/ shares the last checkpoint's model files, a finished run's last checkpoint
drops the policy optimizer's moments unless asked to keep them, and no .lock stays behind."""

import os

import pytest

from orchestration.config import load_config
from orchestration.online import OnlineTrainer
from orchestration.state_io import load_state
from reward_model import ScalarRewardModel


def _files(root):
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, _, names in os.walk(root) for n in names)


@pytest.fixture(scope="module")
def finished(tiny_run_args, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run"))
    OnlineTrainer(load_config(None, tiny_run_args()), out).run()
    return out


def test_final_is_the_last_checkpoint_without_its_state_and_shares_its_bytes(finished):
    checkpoint, final = os.path.join(finished, "checkpoints", "step-000004"), os.path.join(finished, "final")
    models = [f for f in _files(checkpoint) if not f.startswith("trainer_state.") and f != "MANIFEST.json"]
    assert _files(final) == models and "policy/model.safetensors" in models and "rm/reward_model.json" in models
    for name in models:  # hard links: one copy of the bytes on disk
        assert os.stat(os.path.join(final, name)).st_ino == os.stat(os.path.join(checkpoint, name)).st_ino, name
    ScalarRewardModel.from_pretrained(os.path.join(final, "rm"))
    assert not os.path.exists(os.path.join(finished, ".lock"))


def test_a_finished_runs_last_checkpoint_drops_the_policy_moments_the_one_before_keeps_them(finished):
    last = load_state(os.path.join(finished, "checkpoints", "step-000004", "trainer_state"))
    before = load_state(os.path.join(finished, "checkpoints", "step-000002", "trainer_state"))
    assert last["updater"]["optimizer"]["state"] == {} and last["updater"]["optimizer_steps"] == 4
    assert len(before["updater"]["optimizer"]["state"]) > 0  # exact resume mid-run
    assert last["rm_trainer"]["optimizer"]["state"]  # the RM's (small) optimizer state stays


def test_extending_a_finished_run_says_the_moments_restart(finished, tiny_run_args, tmp_path, capsys):
    import shutil

    run = str(tmp_path / "run")
    shutil.copytree(finished, run)
    trainer = OnlineTrainer(load_config(None, tiny_run_args(**{"loop.max_steps": 5})), run)
    assert "holds no AdamW moments" in capsys.readouterr().out and trainer.step == 4
    trainer.run()
    assert trainer.step == 5


def test_final_optimizer_state_true_keeps_them(tiny_run_args, tmp_path):
    cfg = load_config(None, tiny_run_args(**{"loop.max_steps": 2, "loop.final_optimizer_state": True}))
    OnlineTrainer(cfg, str(tmp_path)).run()
    assert load_state(str(tmp_path / "checkpoints" / "step-000002" / "trainer_state"))["updater"]["optimizer"]["state"]
