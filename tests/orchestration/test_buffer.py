import random

import pytest

from orchestration.buffer import OutcomeBuffer, OutcomeRow


def _rows(step, n):
    return [
        OutcomeRow(
            step=step,
            task_id=f"t{i}",
            group=f"{step}:{i // 2}",
            prompt="p\u00e9",
            response=f"r{i}",
            outcome=float(i % 2),
            correct=bool(i % 2),
            reason="ok",
            verifier="math",
        )
        for i in range(n)
    ]


def test_append_read_and_reopen(tmp_path):
    path = str(tmp_path / "outcomes.jsonl")
    buf = OutcomeBuffer(path)
    buf.append(_rows(0, 4))
    buf.append(_rows(1, 3))
    assert len(buf) == 7
    again = OutcomeBuffer(path)
    assert len(again) == 7 and again.size_bytes == buf.size_bytes
    assert again.read([0, 6]) == [_rows(0, 4)[0], _rows(1, 3)[2]]
    assert again.read(range(4, 7)) == _rows(1, 3)


def test_torn_tail_is_ignored_then_overwritten(tmp_path):
    path = str(tmp_path / "outcomes.jsonl")
    OutcomeBuffer(path).append(_rows(0, 2))
    with open(path, "ab") as f:
        f.write(b'{"step": 1, "task_')  # killed mid-write
    buf = OutcomeBuffer(path)
    assert len(buf) == 2
    buf.append(_rows(1, 1))
    assert len(OutcomeBuffer(path)) == 3 and OutcomeBuffer(path).read([2]) == _rows(1, 1)


def test_truncate_to_checkpoint(tmp_path):
    path = str(tmp_path / "outcomes.jsonl")
    buf = OutcomeBuffer(path)
    buf.append(_rows(0, 4))
    size_at_checkpoint = buf.size_bytes
    buf.append(_rows(1, 4))
    buf.truncate(4)
    assert len(buf) == 4 and buf.size_bytes == size_at_checkpoint
    reopened = OutcomeBuffer(path)
    assert len(reopened) == 4 and reopened.read(range(4)) == _rows(0, 4)
    with pytest.raises(ValueError, match="cannot resume at row 9"):
        reopened.truncate(9)


def test_replay_sample_is_ten_percent_of_history():
    buf = OutcomeBuffer.__new__(OutcomeBuffer)
    idx = buf.replay_indices(95, 0.1, random.Random(0))
    assert len(idx) == 10 and len(set(idx)) == 10 and all(0 <= i < 95 for i in idx)  # ceil(9.5)
    assert buf.replay_indices(0, 0.1, random.Random(0)) == []
    assert len(buf.replay_indices(1000, 0.1, random.Random(0), max_rows=32)) == 32
