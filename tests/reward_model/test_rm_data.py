"""Loading outcome records (JSONL, datasets dirs) with row-level errors; pairs, splits and batches."""

import json
import random

import pytest

from reward_model.data import (
    DataError,
    OutcomeRecord,
    PreferencePair,
    group_batches,
    load_eval_rows,
    load_records,
    make_pairs,
    split_by_group,
)


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def test_load_jsonl_accepts_bools_ints_and_int_groups(tmp_path):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"prompt": "p", "response": "r1", "outcome": True, "group": 3},
            {"prompt": "p", "response": "r2", "outcome": 0},
            "",  # blank lines are skipped
            {"prompt": "q", "response": "r3", "outcome": 0.25, "extra": "ignored"},
        ],
    )
    assert load_records(path) == [
        OutcomeRecord("p", "r1", 1.0, "3"),
        OutcomeRecord("p", "r2", 0.0),
        OutcomeRecord("q", "r3", 0.25),
    ]


@pytest.mark.parametrize(
    "row, message",
    [
        ({"response": "r", "outcome": 1}, "row 2: missing field 'prompt'"),
        ({"prompt": "p", "response": 5, "outcome": 1}, "row 2: field 'response' must be a string, got int"),
        ({"prompt": "p", "response": "r"}, "row 2: missing field 'outcome'"),
        ({"prompt": "p", "response": "r", "outcome": -1}, "row 2: field 'outcome' must be 1/0"),
        ({"prompt": "p", "response": "r", "outcome": "yes"}, "row 2: field 'outcome' must be 1/0"),
        ({"prompt": "p", "response": "r", "outcome": 1, "group": [1]}, "row 2: field 'group' must be"),
        ("{not json", "row 2: not valid JSON"),
        ("[1, 2]", "row 2: expected a JSON object"),
    ],
)
def test_malformed_row_names_file_row_and_field(tmp_path, row, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "p", "response": "r", "outcome": 1}, row])
    with pytest.raises(DataError) as error:
        load_records(path)
    assert str(error.value).startswith(f"{path} {message}")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_records(str(tmp_path / "nope.jsonl"))
    with pytest.raises(DataError, match="no rows"):
        load_records(write_jsonl(tmp_path / "empty.jsonl", []))


def test_load_datasets_directory_and_dataset_dict(tmp_path):
    import datasets

    data = datasets.Dataset.from_list(
        [{"prompt": "p", "response": "r", "outcome": 1.0}, {"prompt": "p", "response": "s", "outcome": 7.0}]
    )
    data.select([0]).save_to_disk(str(tmp_path / "ds"))
    assert load_records(str(tmp_path / "ds")) == [OutcomeRecord("p", "r", 1.0)]
    datasets.DatasetDict({"train": data}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(DataError, match=r"dd row 2: field 'outcome'"):
        load_records(str(tmp_path / "dd"))
    datasets.DatasetDict({"test": data}).save_to_disk(str(tmp_path / "nt"))
    with pytest.raises(DataError, match="without a 'train' split"):
        load_records(str(tmp_path / "nt"))


def test_load_eval_rows_reads_explicit_pairs(tmp_path):
    path = write_jsonl(
        tmp_path / "pairs.jsonl", [{"prompt": "p", "better": "b", "worse": "w"}, {"prompt": "p", "better": "b2"}]
    )
    with pytest.raises(DataError, match="row 2: missing field 'worse'"):
        load_eval_rows(path)
    path = write_jsonl(tmp_path / "ok.jsonl", [{"prompt": "p", "better": "b", "worse": "w"}])
    assert load_eval_rows(path) == [PreferencePair("p", "b", "w")]


def test_make_pairs_within_prompt_or_group():
    records = [
        OutcomeRecord("p", "right", 1.0),
        OutcomeRecord("p", "wrong", 0.0),
        OutcomeRecord("q", "alone", 0.0),
        OutcomeRecord("p", "other group", 0.0, group="g"),
    ]
    assert make_pairs(records) == [PreferencePair("p", "right", "wrong")]


def test_split_by_group_keeps_groups_whole():
    records = [OutcomeRecord(f"p{i // 4}", f"r{i}", float(i % 2)) for i in range(40)]  # 10 groups of 4
    train, val = split_by_group(records, 0.2, seed=0)
    assert len(val) == 2 * 4 and len(train) == 8 * 4
    assert not {r.group_key for r in train} & {r.group_key for r in val}
    assert split_by_group(records, 0.0, seed=0) == (records, [])
    assert split_by_group(records[:4], 0.5, seed=0) == (records[:4], [])  # one group: nothing to hold out


def test_group_batches_cover_everything_once_and_keep_groups_whole():
    rng = random.Random(0)
    groups = [list(range(start, start + size)) for start, size in zip(range(0, 200, 10), [3, 8, 10, 5] * 5)]
    lengths = [rng.randint(5, 100) for _ in range(200)]
    batches = group_batches(groups, lengths, batch_size=16, rng=random.Random(1))
    flat = sorted(i for b in batches for i in b)
    assert flat == sorted(i for g in groups for i in g)
    assert all(len(b) <= 16 for b in batches)
    where = {i: n for n, b in enumerate(batches) for i in b}
    assert all(len({where[i] for i in g}) == 1 for g in groups)
    split = group_batches([list(range(40))], lengths, batch_size=16, rng=random.Random(1))
    assert sorted(len(b) for b in split) == [8, 16, 16]  # a group over batch_size is cut into chunks
