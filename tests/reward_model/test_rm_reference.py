"""The reference-aware RM: its input template, what is never cut, errors naming what is missing, the saved setting,
the step RM, the loaders and the command lines."""

import json

import pytest
import torch

from reward_model import ScalarRewardModel
from reward_model import evaluate as evaluate_module
from reward_model import train as train_module
from reward_model.data import DataError, OutcomeRecord, load_eval_rows, load_records, load_step_records
from reward_model.step_model import StepRewardModel
from reward_model.trainer import RMTrainConfig, RMTrainer


def tokens(rm, ids):
    return rm.tokenizer.convert_ids_to_tokens(ids)


@pytest.fixture
def ref_rm(tiny_encoder_dir):
    return ScalarRewardModel.from_encoder(tiny_encoder_dir, max_length=64, seed=0, reference=True)


def test_reference_line_opens_the_first_segment(ref_rm):
    ((ids, types),) = ref_rm.encode(["what is 9 * 7?"], ["it is 63"], ["63"])
    assert tokens(ref_rm, ids) == [
        "[CLS]",
        "reference",
        "answer",
        ":",
        "63",
        "what",
        "is",
        "9",
        "*",
        "7",
        "?",
        "[SEP]",
        "it",
        "is",
        "63",
        "[SEP]",
    ]
    assert types == [0] * 12 + [1] * 4  # the reference is part of the first segment, beside the prompt


def test_a_reference_free_rm_ignores_references(tiny_rm):
    assert tiny_rm.reference is False
    assert tiny_rm.encode(["what is 9 * 7?"], ["it is 63"], ["63"]) == tiny_rm.encode(["what is 9 * 7?"], ["it is 63"])
    torch.testing.assert_close(tiny_rm.score(["q"], ["a"], references=["1"]), tiny_rm.score(["q"], ["a"]))


def test_reference_is_never_cut_and_the_response_end_is_kept(ref_rm):
    ref_rm.max_length = 16
    rambling = " ".join(f"step {i}" for i in range(50)) + " so the answer is 42"
    ((ids, _),) = ref_rm.encode(["please solve " * 20], [rambling], ["41"])
    # 16 - 3 special tokens = 13: the 4-token reference line, no room for the prompt, the response's last 9 tokens
    assert tokens(ref_rm, ids) == [
        "[CLS]",
        "reference",
        "answer",
        ":",
        "41",
        "[SEP]",
        "step",
        "48",
        "step",
        "49",
        "so",
        "the",
        "answer",
        "is",
        "42",
        "[SEP]",
    ]
    # a reference longer than half the budget keeps only its head: the response keeps at least half
    ((ids, _),) = ref_rm.encode(["q"], ["it is 5"], [" ".join(["7"] * 40)])
    assert tokens(ref_rm, ids)[:4] == ["[CLS]", "reference", "answer", ":"] and tokens(ref_rm, ids)[-4:] == [
        "it",
        "is",
        "5",
        "[SEP]",
    ]


def test_the_reference_changes_the_score(ref_rm):
    scores = ref_rm.score(["what is 9 * 7?"] * 2, ["it is 63"] * 2, references=["63", "64"])
    assert scores[0] != scores[1]


def test_missing_reference_is_an_error_naming_the_response(ref_rm):
    with pytest.raises(ValueError, match=r"reference-aware .* response 1 \(of 2; 1 in all\) has none"):
        ref_rm.score(["q", "q"], ["a", "b"], references=["1", None])
    with pytest.raises(ValueError, match="reference-aware"):
        ref_rm.score(["q"], ["a"])


def test_save_and_load_keep_the_setting_and_the_origin(ref_rm, tmp_path):
    ref_rm.origin = {"source": "bootstrap", "outcomes": 12}
    ref_rm.save_pretrained(str(tmp_path / "rm"))
    config = json.loads((tmp_path / "rm" / "reward_model.json").read_text())
    assert config["reference"] is True and config["origin"] == {"source": "bootstrap", "outcomes": 12}
    loaded = ScalarRewardModel.from_pretrained(str(tmp_path / "rm"))
    assert loaded.reference is True and loaded.origin == ref_rm.origin
    args = (["q", "q"], ["it is 5", "it is 6"])
    torch.testing.assert_close(loaded.score(*args, references=["5", "5"]), ref_rm.score(*args, references=["5", "5"]))


def test_reference_aware_step_rm(tiny_encoder_dir):
    rm = StepRewardModel.from_encoder(tiny_encoder_dir, max_length=64, seed=0, reference=True)
    (encoding,) = rm.encode_steps(["what is 2 + 3?"], ["2 + 3 = 5\nso 5"], [[(0, 9), (10, 14)]], ["5"])
    assert tokens(rm, encoding.input_ids)[:6] == ["[CLS]", "reference", "answer", ":", "5", "what"]
    assert [tokens(rm, encoding.input_ids)[m] for m in encoding.markers] == ["[SEP]", "[SEP]"]
    (scores,) = rm.score_steps(["what is 2 + 3?"], ["2 + 3 = 5\nso 5"], [[(0, 9), (10, 14)]], references=["5"])
    assert scores.shape == (2,) and torch.isfinite(scores).all()
    with pytest.raises(ValueError, match="reference-aware"):
        rm.score_steps(["q"], ["a"], [[(0, 1)]])


def test_loaders_read_the_reference_and_name_a_missing_one(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"prompt": "p", "response": "r", "outcome": 1, "reference": 63}\n'
        '{"prompt": "p", "response": "s", "outcome": 0}\n'
    )
    assert [r.reference for r in load_records(str(path))] == ["63", None]  # optional unless asked for
    with pytest.raises(DataError, match=rf"{path} row 2: missing field 'reference'"):
        load_records(str(path), reference=True)
    with pytest.raises(DataError, match=rf"{path} row 2: missing field 'reference'"):
        load_eval_rows(str(path), reference=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "response": "r", "outcome": 1, "reference": ["63"]}\n')
    with pytest.raises(DataError, match=r"row 1: field 'reference' must be the gold answer"):
        load_records(str(bad))
    steps = tmp_path / "steps.jsonl"
    steps.write_text('{"prompt": "p", "steps": ["a", "b"], "labels": [1, 0]}\n')
    with pytest.raises(DataError, match=r"row 1: missing field 'reference'"):
        load_step_records(str(steps), reference=True)


def test_a_reference_aware_fit_refuses_records_without_reference(ref_rm):
    trainer = RMTrainer(ref_rm, RMTrainConfig(val_fraction=0.0, progress_bar=False, batch_size=4))
    records = [OutcomeRecord("what is 1 + 1?", "2", 1.0, "g", "2"), OutcomeRecord("what is 1 + 2?", "4", 0.0, "h")]
    with pytest.raises(
        ValueError,
        match=r"reference-aware .* 1 of 2 records have no reference, the first for "
        r"prompt 'what is 1 \+ 2\?'",
    ):
        trainer.fit(records)


def _write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_train_and_evaluate_cli_with_reference(tmp_path, tiny_encoder_dir, capsys):
    rows = [
        {
            "prompt": f"what is {a} + 1?",
            "response": f"it is {a + 1 + wrong}",
            "outcome": float(not wrong),
            "group": str(a),
            "reference": str(a + 1),
        }
        for a in range(8)
        for wrong in (0, 1)
    ]
    data = _write(tmp_path / "train.jsonl", rows)
    out = str(tmp_path / "rm")
    train_module.main(
        [
            "--data",
            data,
            "--output",
            out,
            "--encoder",
            tiny_encoder_dir,
            "--max-length",
            "64",
            "--reference",
            "--max-steps",
            "2",
            "--batch-size",
            "8",
            "--no-progress-bar",
        ]
    )
    assert ScalarRewardModel.from_pretrained(out).reference is True
    capsys.readouterr()
    result = evaluate_module.main(["--model", out, "--data", data, "--reference"])
    assert result["n_pairs"] == 8
    no_reference = _write(
        tmp_path / "plain.jsonl", [{k: v for k, v in row.items() if k != "reference"} for row in rows]
    )
    with pytest.raises(SystemExit, match=r"plain.jsonl row 1: missing field 'reference'"):
        evaluate_module.main(["--model", out, "--data", no_reference])  # the saved RM decides, flag or not
    with pytest.raises(SystemExit, match=r"plain.jsonl row 1: missing field 'reference'"):
        train_module.main(["--data", no_reference, "--init-from", out, "--output", str(tmp_path / "rm2")])
    free = str(tmp_path / "free")
    train_module.main(
        [
            "--data",
            no_reference,
            "--output",
            free,
            "--encoder",
            tiny_encoder_dir,
            "--max-length",
            "64",
            "--max-steps",
            "1",
            "--no-progress-bar",
        ]
    )
    with pytest.raises(SystemExit, match="--reference, but .* is not a reference-aware RM"):
        evaluate_module.main(["--model", free, "--data", data, "--reference"])
    with pytest.raises(SystemExit, match="--reference, but --init-from .* is a reference-free RM"):
        train_module.main(["--data", data, "--init-from", free, "--reference", "--output", str(tmp_path / "rm3")])


def test_as_reward_function_reads_the_answer_column(ref_rm):
    fn = ref_rm.as_reward_function()
    got = fn(prompts=["what is 9 * 7?", "what is 9 * 7?"], completions=["63", "64"], answer=[63, 63])
    expected = ref_rm.reward(["what is 9 * 7?"] * 2, ["63", "64"], references=["63", "63"]).tolist()
    assert got == pytest.approx(expected)
    with pytest.raises(ValueError, match="needs a 'answer' column"):
        fn(prompts=["q"], completions=["a"])
    assert ScalarRewardModel.as_reward_function(ref_rm, reference_column="gold")(
        prompts=["q"], completions=["a"], gold=["1"]
    ) == pytest.approx(ref_rm.reward(["q"], ["a"], references=["1"]).tolist())
