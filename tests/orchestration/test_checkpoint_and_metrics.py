import json
import os

import pytest

from orchestration.checkpoint import latest_checkpoint, list_checkpoints, save_checkpoint, truncate_file
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
    assert json.load(open(os.path.join(latest_checkpoint(run), "state.json"))) == {"tag": 8}


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
