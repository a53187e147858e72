"""Reward-model data: outcome records, loading them with row-level validation, pairs, splits and batches.

A record is one verified response: `{prompt, response, outcome[, group][, reference]}` with outcome 1.0
(correct), 0.0 (wrong) or a verifier score in [0, 1], and `reference` the task's gold answer (what a
reference-aware RM reads beside the response; the loop's outcome buffer has it). Ranking pairs are formed only
inside a group (default: the prompt text), because that is the comparison GRPO makes. Evaluation files may
instead hold explicit pairs, `{prompt, better, worse[, reference]}`.

    load_records(path, reference=False)      JSONL file or a `datasets.save_to_disk` directory -> list[OutcomeRecord]
    load_eval_rows(path, reference=False)    records, or PreferencePairs when the rows have `better`/`worse`

With `reference=True` (a reference-aware fit or evaluation) a row without a `reference` is an error naming it.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class OutcomeRecord:
    prompt: str
    response: str
    outcome: float  # 1.0 correct / 0.0 wrong, or a verifier score in [0, 1]
    group: str | None = None  # pairs are formed within a group; None = the prompt text
    reference: str | None = None  # the gold answer, for a reference-aware RM

    @property
    def group_key(self) -> str:
        return self.prompt if self.group is None else self.group


@dataclass(frozen=True)
class StepRecord:
    """One response cut into steps, with a label per step (process supervision)."""

    prompt: str
    response: str
    spans: tuple[tuple[int, int], ...]  # each step's character span in `response`, in order
    labels: tuple[float | None, ...]  # 1.0 good, 0.0 bad, a soft value in [0, 1], or None (no label)
    outcome: float | None = None  # the whole response's verified outcome, when known
    group: str | None = None
    reference: str | None = None  # the gold answer, for a reference-aware RM

    @property
    def group_key(self) -> str:
        return self.prompt if self.group is None else self.group

    @property
    def has_label(self) -> bool:
        """At least one step is labelled (only such a record carries a training loss)."""
        return any(v is not None for v in self.labels)


@dataclass(frozen=True)
class PreferencePair:
    prompt: str
    better: str
    worse: str
    reference: str | None = None  # the gold answer, for a reference-aware RM


class DataError(ValueError):
    """A malformed data file; the message names the file, the row and the field."""


# ---------------------------------------------------------------------------------------- loading


def _rows(path: str) -> Iterator[tuple[int, object]]:
    """(1-based row number, parsed row) from a JSONL file or a saved `datasets` dataset directory."""
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or directory (expected a JSONL file or a datasets directory)")
    if os.path.isdir(path):
        import datasets

        try:
            data = datasets.load_from_disk(path)
        except (FileNotFoundError, ValueError) as e:
            raise DataError(f"{path}: not a dataset saved with `save_to_disk` ({e})") from e
        if isinstance(data, datasets.DatasetDict):
            if "train" not in data:
                raise DataError(f"{path}: a DatasetDict without a 'train' split (splits: {list(data)})")
            data = data["train"]
        yield from enumerate(data, start=1)
        return
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path} row {number}: not valid JSON ({e.msg} at column {e.colno})") from e


def _text(row: dict, field: str, where: str) -> str:
    if field not in row:
        raise DataError(f"{where}: missing field '{field}' (expected a string)")
    value = row[field]
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{field}' must be a string, got {type(value).__name__} {value!r:.60}")
    return value


def _outcome(row: dict, where: str) -> float:
    if "outcome" not in row:
        raise DataError(f"{where}: missing field 'outcome' (expected 1/0, true/false or a score in [0, 1])")
    value = row["outcome"]
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise DataError(
            f"{where}: field 'outcome' must be 1/0, true/false or a number in [0, 1], got {value!r:.60}"
            " (map -1/+1 labels to 0/1)"
        )
    return float(value)


def _group(row: dict, where: str) -> str | None:
    group = row.get("group")
    if group is not None and not isinstance(group, (str, int)):
        raise DataError(f"{where}: field 'group' must be a string or an integer, got {group!r:.60}")
    return None if group is None else str(group)


def _reference(row: dict, where: str, required: bool) -> str | None:
    """The row's gold answer (a number in JSON is read as its text); required for a reference-aware RM."""
    value = row.get("reference")
    if value is None:
        if required:
            raise DataError(
                f"{where}: missing field 'reference' (a reference-aware RM reads the gold answer beside "
                "each response: add it to every row, e.g. the loop's outcomes.jsonl has it, or train and "
                "evaluate without --reference)"
            )
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or (isinstance(value, str) and not value):
        raise DataError(
            f"{where}: field 'reference' must be the gold answer as a non-empty string (or a number), got {value!r:.60}"
        )
    return str(value)


def _record(row: object, where: str, reference: bool = False) -> OutcomeRecord:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object with prompt, response, outcome; got {row!r:.60}")
    group = _group(row, where)
    return OutcomeRecord(
        prompt=_text(row, "prompt", where),
        response=_text(row, "response", where),
        outcome=_outcome(row, where),
        group=group,
        reference=_reference(row, where, reference),
    )


def load_records(path: str, reference: bool = False) -> list[OutcomeRecord]:
    """All `{prompt, response, outcome[, group][, reference]}` rows of `path`; the first malformed row raises
    `DataError`. `reference=True`: every row must carry its gold answer."""
    records = [_record(row, f"{path} row {number}", reference) for number, row in _rows(path)]
    if not records:
        raise DataError(f"{path}: no rows")
    return records


def _step_label(value, where: str) -> float | None:
    if value is None or isinstance(value, bool):
        return None if value is None else float(value)
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise DataError(f"{where}: a step label must be 1/0, true/false, a number in [0, 1] or null, got {value!r:.60}")
    return float(value)


def _step_record(row: object, where: str, reference: bool = False) -> StepRecord:
    """`{prompt, response, steps: [[start, end, label], ...]}` (the outcome buffer's form) or
    `{prompt, steps: ["text", ...], labels: [...]}` (PRM800K / Math-Shepherd style; the response is the steps
    joined by newlines); `outcome` and `group` optional in both."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object with prompt and steps; got {row!r:.60}")
    prompt, steps = _text(row, "prompt", where), row.get("steps")
    if not isinstance(steps, list):
        raise DataError(
            f"{where}: field 'steps' must be a list ([[start, end, label], ...] with 'response', or "
            f"step texts with 'labels'), got {steps!r:.60}"
        )
    if "labels" in row:
        labels = row["labels"]
        if not all(isinstance(t, str) for t in steps) or not isinstance(labels, list) or len(labels) != len(steps):
            raise DataError(
                f"{where}: with 'labels', 'steps' must be a list of strings and 'labels' a list of the "
                f"same length (got {len(steps)} steps, labels {labels!r:.60})"
            )
        spans, start = [], 0
        for text in steps:
            spans.append((start, start + len(text)))
            start += len(text) + 1
        response = "\n".join(steps)
        labels = [_step_label(v, f"{where} field 'labels'[{i}]") for i, v in enumerate(labels)]
    else:
        response, spans, labels, last = _text(row, "response", where), [], [], 0
        for i, step in enumerate(steps):
            ok = isinstance(step, list) and len(step) == 3 and all(type(x) is int for x in step[:2])
            if not ok or not last <= step[0] < step[1] <= len(response):
                raise DataError(
                    f"{where}: field 'steps'[{i}] must be [start, end, label] with increasing character "
                    f"offsets inside the {len(response)}-character response, got {step!r:.60}"
                )
            spans.append((step[0], step[1]))
            labels.append(_step_label(step[2], f"{where} field 'steps'[{i}]"))
            last = step[1]
    outcome = _outcome(row, where) if "outcome" in row else None
    return StepRecord(
        prompt, response, tuple(spans), tuple(labels), outcome, _group(row, where), _reference(row, where, reference)
    )


def load_step_records(path: str, reference: bool = False) -> list[StepRecord]:
    """All step-labelled rows of `path` (see `_step_record` for the two accepted forms); rows without a single
    labelled step are kept (they still have an outcome to evaluate); the first malformed row raises `DataError`.
    `reference=True`: every row must carry its gold answer."""
    records = [_step_record(row, f"{path} row {number}", reference) for number, row in _rows(path)]
    if not records:
        raise DataError(f"{path}: no rows")
    return records


def load_tags(path: str, field: str) -> list[str | None]:
    """The value of `field` in each row of `path` (None where absent), aligned with `load_records`."""
    return [None if not isinstance(row, dict) or row.get(field) is None else str(row[field]) for _, row in _rows(path)]


def load_eval_rows(path: str, reference: bool = False) -> list[OutcomeRecord] | list[PreferencePair]:
    """Outcome records, or explicit pairs when the first row has `better` and `worse` (all rows must agree).
    `reference=True`: every row must carry its gold answer."""
    rows = list(_rows(path))
    if not rows:
        raise DataError(f"{path}: no rows")
    first = rows[0][1]
    if not (isinstance(first, dict) and "better" in first and "worse" in first):
        return [_record(row, f"{path} row {number}", reference) for number, row in rows]
    pairs = []
    for number, row in rows:
        where = f"{path} row {number}"
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object with prompt, better, worse; got {row!r:.60}")
        pairs.append(
            PreferencePair(
                _text(row, "prompt", where),
                _text(row, "better", where),
                _text(row, "worse", where),
                _reference(row, where, reference),
            )
        )
    return pairs


# ---------------------------------------------------------------------------------------- pairs, splits, batches


def make_pairs(records: list[OutcomeRecord]) -> list[PreferencePair]:
    """Every within-group pair of records whose outcomes differ, the higher outcome as `better`."""
    from reward_model.metrics import pair_indices

    better, worse = pair_indices([r.outcome for r in records], [r.group_key for r in records])
    return [
        PreferencePair(records[b].prompt, records[b].response, records[w].response, records[b].reference)
        for b, w in zip(better.tolist(), worse.tolist())
    ]


def group_members(records: list[OutcomeRecord]) -> dict[str, list[int]]:
    """Group key -> indices of its records, in first-seen order."""
    members: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        members.setdefault(record.group_key, []).append(i)
    return members


def split_by_group(
    records: list[OutcomeRecord], val_fraction: float, seed: int
) -> tuple[list[OutcomeRecord], list[OutcomeRecord]]:
    """(train, validation) with whole groups on one side, so validation pairs are unseen prompts.

    Validation gets round(val_fraction * number of groups) groups, at least one when val_fraction > 0 and
    there are two groups or more; none otherwise.
    """
    keys = list(group_members(records))
    n_val = min(len(keys) - 1, max(1, round(val_fraction * len(keys)))) if val_fraction > 0 else 0
    val_keys = set(random.Random(seed).sample(keys, n_val)) if n_val > 0 else set()
    train = [r for r in records if r.group_key not in val_keys]
    val = [r for r in records if r.group_key in val_keys]
    return train, val


def group_batches(
    groups: list[list[int]], lengths: list[int], batch_size: int, rng: random.Random, bucket_batches: int = 16
) -> list[list[int]]:
    """Batches of indices that keep each group whole (so pairwise losses see its pairs) and hold groups of
    similar length together (less padding).

    Groups are shuffled, cut into buckets of about `bucket_batches` batches, sorted by length inside a
    bucket and packed; the batch order is shuffled again. A group larger than `batch_size` is split.
    """
    chunks = [g[i : i + batch_size] for g in groups for i in range(0, len(g), batch_size)]
    rng.shuffle(chunks)
    batches: list[list[int]] = []
    bucket_size = batch_size * bucket_batches
    start = 0
    while start < len(chunks):
        bucket, n = [], 0
        while start < len(chunks) and n < bucket_size:
            bucket.append(chunks[start])
            n += len(chunks[start])
            start += 1
        bucket.sort(key=lambda chunk: max(lengths[i] for i in chunk))
        current: list[int] = []
        for chunk in bucket:
            if current and len(current) + len(chunk) > batch_size:
                batches.append(current)
                current = []
            current = current + chunk
        if current:
            batches.append(current)
    rng.shuffle(batches)
    return batches
