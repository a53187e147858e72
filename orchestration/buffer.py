"""The persistent outcome buffer: every verified completion, one JSON line each, append-only on disk.

The reward model is re-trained from it every N policy steps on the rows added since its last update plus
a replay sample of older rows (DeepSeekMath keeps 10% of history). Rows are flushed and fsynced after
each step, so a killed run loses nothing written before its last checkpoint; on resume the file is cut
back to the checkpoint's byte offset, so the steps that are re-run write no duplicate rows.

Columns added later are optional, so a buffer written before them still loads (the missing column reads as
its default): `reference` (the task's gold answer, which a reference-aware RM reads beside the response) and
`truncated` (the completion hit the token limit).
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class OutcomeRow:
    step: int
    task_id: str
    group: str  # unique per (step, prompt): the RM forms ranking pairs within a group
    prompt: str  # the prompt text as the reward model sees it
    response: str
    outcome: float  # the verifier's score in [0, 1]
    correct: bool
    reason: str
    verifier: str
    rm_score: float | None = None  # the RM's [0, 1] score, from a version that had not trained on this row
    rm_version: int = 0  # the RM version that produced rm_score
    reward: float | None = None  # the reward this completion received (what GRPO's advantages were formed from)
    steps: list | None = None  # process supervision: [[start, end, label], ...] character spans, label 1/0/None
    reference: str | None = None  # the gold answer (math); None for tasks without one and for older buffers
    truncated: bool | None = None  # cut at max_new_tokens; None in older buffers

    @classmethod
    def from_json(cls, line: str, where: str) -> "OutcomeRow":
        try:
            data = json.loads(line)
            return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
        except (json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"{where}: corrupt outcome row ({e})") from e


class OutcomeBuffer:
    """Append-only JSONL of `OutcomeRow`s with random access by row index."""

    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.reindex()

    def reindex(self) -> None:
        """Re-read the row index from disk (processes that do not write the file call this)."""
        self._offsets: list[int] = []  # byte offset of each complete row
        self._size = 0  # bytes of complete rows
        if os.path.exists(self.path):
            self._index()

    def refresh(self) -> None:
        """Index rows another process appended since our last look."""
        self._index(start=self._size)

    def _index(self, start: int = 0) -> None:
        with open(self.path, "rb") as f:
            f.seek(start)
            offset = start
            for line in f:
                if not line.endswith(b"\n"):  # a row torn by a kill mid-write: not part of the buffer
                    break
                self._offsets.append(offset)
                offset += len(line)
        self._size = offset

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def size_bytes(self) -> int:
        return self._size

    def append(self, rows: list[OutcomeRow]) -> None:
        if not rows:
            return
        lines = [(json.dumps(asdict(r), ensure_ascii=False) + "\n").encode() for r in rows]
        with open(self.path, "ab") as f:
            if f.tell() != self._size:  # drop a torn tail before appending
                f.truncate(self._size)
                f.seek(self._size)
            f.write(b"".join(lines))
            f.flush()
            os.fsync(f.fileno())
        for line in lines:
            self._offsets.append(self._size)
            self._size += len(line)

    def truncate(self, n_rows: int) -> None:
        """Keep the first `n_rows` rows (resume: drop what was written after the checkpoint)."""
        if n_rows > len(self):
            raise ValueError(
                f"{self.path}: holds {len(self)} rows, cannot resume at row {n_rows}; "
                "the buffer is older than the checkpoint (was it replaced?)"
            )
        self._size = self._offsets[n_rows] if n_rows < len(self) else self._size
        del self._offsets[n_rows:]
        if os.path.exists(self.path):
            with open(self.path, "r+b") as f:
                f.truncate(self._size)
                f.flush()
                os.fsync(f.fileno())

    def read(self, indices: range | list[int]) -> list[OutcomeRow]:
        rows = []
        with open(self.path, "rb") as f:
            for i in indices:
                f.seek(self._offsets[i])
                rows.append(OutcomeRow.from_json(f.readline().decode(), f"{self.path} row {i + 1}"))
        return rows

    def replay_indices(
        self, history_end: int, fraction: float, rng: random.Random, max_rows: int | None = None
    ) -> list[int]:
        """A uniform sample of `ceil(fraction * history_end)` of the rows before `history_end`."""
        n = min(history_end, math.ceil(fraction * history_end))
        if max_rows is not None:
            n = min(n, max_rows)
        return sorted(rng.sample(range(history_end), n))
