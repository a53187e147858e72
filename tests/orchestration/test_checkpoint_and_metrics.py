import errno
import json
import os
from pathlib import Path

import pytest

from orchestration.checkpoint import (
    MANIFEST,
    latest_checkpoint,
    list_checkpoints,
    save_checkpoint,
    set_aside,
    set_aside_checkpoints,
    truncate_file,
    verify_checkpoint,
)
from orchestration.metrics import HackingAlarm, MetricsLogger, nan_safe_mean, read_metrics, timer


def _write(tag):
    def write(path):
        with open(os.path.join(path, "state.json"), "w") as f:
            json.dump({"tag": tag}, f)

    return write


def test_checkpoints_rotate_and_latest_is_complete(tmp_path):
    run = str(tmp_path)
    for step in (2, 4, 6, 8):
        save_checkpoint(run, step, _write(step), keep=2)
    assert [s for s, _ in list_checkpoints(run)] == [6, 8]
    assert json.loads(Path(latest_checkpoint(run), "state.json").read_text()) == {"tag": 8}


def test_killed_writer_leaves_no_visible_checkpoint(tmp_path):
    run = str(tmp_path)
    save_checkpoint(run, 1, _write(1), keep=3)

    def dies(path):
        _write(2)(path)
        raise KeyboardInterrupt  # stands in for SIGKILL between writing and renaming

    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(run, 2, dies, keep=3)
    assert [s for s, _ in list_checkpoints(run)] == [1]
    save_checkpoint(run, 2, _write(2), keep=3)  # the stale temporary directory does not get in the way
    assert [s for s, _ in list_checkpoints(run)] == [1, 2]


def _write_model(path):
    os.makedirs(os.path.join(path, "policy"))
    with open(os.path.join(path, "policy", "model.safetensors"), "wb") as f:
        f.write(bytes(range(256)) * 40)
    _write("x")(path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda c: os.truncate(os.path.join(c, "policy", "model.safetensors"), 100),  # disk full, copy cut short
            "policy/model.safetensors holds 100 bytes, the manifest says 10240",
        ),
        (lambda c: os.remove(os.path.join(c, "state.json")), "state.json is missing"),
        (lambda c: os.remove(os.path.join(c, MANIFEST)), "MANIFEST.json is missing"),
        (lambda c: Path(c, MANIFEST).write_text('{"files": {"state.json": '), "MANIFEST.json is unreadable"),
        (lambda c: Path(c, MANIFEST).write_text('{"files": []}'), "MANIFEST.json is unreadable"),
        (lambda c: _flip_a_byte(os.path.join(c, "policy", "model.safetensors")), "does not match its checksum"),
    ],
)
def test_a_damaged_checkpoint_fails_verification_saying_what_is_wrong(tmp_path, damage, message):
    path = save_checkpoint(str(tmp_path), 4, _write_model, keep=2)
    assert verify_checkpoint(path) is None
    manifest = json.loads(Path(path, MANIFEST).read_text())["files"]
    assert sorted(manifest) == ["policy/model.safetensors", "state.json"]
    assert manifest["policy/model.safetensors"]["size"] == 10240
    damage(path)
    assert message in verify_checkpoint(path)


def _flip_a_byte(path):
    with open(path, "r+b") as f:
        f.seek(5000)
        byte = f.read(1)
        f.seek(5000)
        f.write(bytes([byte[0] ^ 1]))


def test_set_aside_keeps_the_evidence_out_of_rotation(tmp_path):
    run = str(tmp_path)
    for step in (2, 4):
        save_checkpoint(run, step, _write(step), keep=2)
    moved = set_aside(latest_checkpoint(run))
    assert moved.endswith("step-000004.corrupt") and os.path.isdir(moved)
    assert [s for s, _ in list_checkpoints(run)] == [2]
    save_checkpoint(run, 4, _write(4), keep=2)
    assert set_aside(latest_checkpoint(run)).endswith("step-000004.corrupt-2")  # the first one stays
    for step in (4, 6, 8):  # rotation deletes old checkpoints, never the set-aside ones
        save_checkpoint(run, step, _write(step), keep=2)
    assert [s for s, _ in list_checkpoints(run)] == [6, 8]
    assert [os.path.basename(p) for p in set_aside_checkpoints(run)] == ["step-000004.corrupt", "step-000004.corrupt-2"]


def test_a_full_disk_leaves_the_previous_checkpoint_and_no_partial_one(tmp_path):
    run = str(tmp_path)
    save_checkpoint(run, 2, _write_model, keep=2)

    def disk_full(path):
        _write_model(path)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(run, 4, disk_full, keep=2)
    assert os.listdir(os.path.join(run, "checkpoints")) == ["step-000002"]  # the partial copy is gone too
    assert verify_checkpoint(latest_checkpoint(run)) is None


def test_truncate_file(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text("a\nb\nc\n")
    truncate_file(str(path), 4)
    assert path.read_text() == "a\nb\n"
    with pytest.raises(ValueError, match="fewer than the 10"):
        truncate_file(str(path), 10)


def test_metrics_logger_and_timer(tmp_path):
    timings = {}
    with timer("generate", timings):
        pass
    with timer("generate", timings):
        pass
    assert set(timings) == {"timing/generate"} and timings["timing/generate"] >= 0
    logger = MetricsLogger(str(tmp_path / "metrics.jsonl"))
    logger.log({"reward/mean": 0.5, "rm/auc": float("nan")}, step=1)
    assert read_metrics(str(tmp_path / "metrics.jsonl")) == [{"step": 1, "reward/mean": 0.5, "rm/auc": None}]
    assert nan_safe_mean([1.0, float("nan"), 3.0, None]) == 2.0


def test_hacking_alarm_fires_only_on_rising_reward_with_falling_accuracy():
    alarm = HackingAlarm(window=4, tolerance=0.02)
    # rm reward 0.1, 0.2 | 0.5, 0.6 (up 0.4); accuracy 0.6, 0.6 | 0.3, 0.3 (down 0.3)
    fired = [alarm.update(r, a) for r, a in [(0.1, 0.6), (0.2, 0.6), (0.5, 0.3), (0.6, 0.3)]]
    assert fired == [False, False, False, True]
    healthy = HackingAlarm(window=4)
    assert not any(healthy.update(r, a) for r, a in [(0.1, 0.3), (0.2, 0.4), (0.5, 0.5), (0.6, 0.6)])
    restored = HackingAlarm(window=4)
    restored.load_state_dict(alarm.state_dict())
    assert restored.update(0.7, 0.2) == alarm.update(0.7, 0.2)
