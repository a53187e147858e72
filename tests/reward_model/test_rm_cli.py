"""The train and evaluate command lines on a small file with a tiny BERT, and `evaluate()` itself."""

import json
import math

import pytest
import torch

from reward_model import ScalarRewardModel
from reward_model import evaluate as evaluate_module
from reward_model import train as train_module
from reward_model.data import OutcomeRecord, PreferencePair
from reward_model.evaluate import distribution_warnings, evaluate


def write_records(path, records, **extra):
    with open(path, "w") as f:
        for r in records:
            f.write(
                json.dumps(
                    {"prompt": r.prompt, "response": r.response, "outcome": r.outcome, "group": r.group, **extra}
                )
                + "\n"
            )
    return str(path)


def test_train_then_evaluate_cli(tmp_path, tiny_encoder_dir, toy_task, capsys):
    train_records, heldout = toy_task
    train_file = write_records(tmp_path / "train.jsonl", train_records)
    heldout_file = write_records(tmp_path / "heldout.jsonl", heldout, kind="toy")
    out = str(tmp_path / "rm")
    metrics = train_module.main(
        [
            "--data",
            train_file,
            "--output",
            out,
            "--encoder",
            tiny_encoder_dir,
            "--max-length",
            "64",
            "--loss",
            "bradley_terry",
            "--epochs",
            "4",
            "--batch-size",
            "16",
            "--lr-encoder",
            "1e-3",
            "--lr-head",
            "3e-3",
            "--no-progress-bar",
        ]
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == pytest.approx(metrics, nan_ok=True)
    assert json.loads((tmp_path / "rm" / "train_config.json").read_text())["loss"] == "bradley_terry"
    result = evaluate_module.main(["--model", out, "--data", heldout_file, "--train-data", train_file, "--by", "kind"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["by_tag"] == {"toy": {"ranking_accuracy": printed["ranking_accuracy"], "n_pairs": 64}}
    assert printed["n_pairs"] == result["n_pairs"] == 16 * 4
    assert printed["ranking_accuracy"] >= 0.95 and printed["auc"] >= 0.9
    assert printed["ece"] is None and printed["trained_with"] == "bradley_terry"  # ECE only means something for bce
    assert set(printed["baselines"]) == {"length", "length_direction", "tfidf_logreg"}
    # continue training the saved RM on new records plus a replay sample of old ones
    more = train_module.main(
        [
            "--data",
            heldout_file,
            "--init-from",
            out,
            "--replay-data",
            train_file,
            "--replay-fraction",
            "0.25",
            "--output",
            str(tmp_path / "rm2"),
            "--max-steps",
            "1",
            "--no-progress-bar",
        ]
    )
    assert more["n_replay"] == 48 and more["steps"] == 1


def test_train_cli_stops_on_malformed_row_before_loading_a_model(tmp_path, monkeypatch):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "p", "response": "r", "outcome": 1}\n{"prompt": "p", "response": "r", "outcome": 3}\n')
    monkeypatch.setattr(ScalarRewardModel, "from_encoder", lambda *a, **k: pytest.fail("model loaded"))
    with pytest.raises(SystemExit, match=rf"{path} row 2: field 'outcome' must be"):
        train_module.main(["--data", str(path), "--output", str(tmp_path / "rm")])
    assert not (tmp_path / "rm").exists()
    with pytest.raises(SystemExit, match="val_fraction must be in"):
        train_module.main(["--data", str(path), "--output", str(tmp_path / "rm"), "--val-fraction", "2"])


def test_evaluate_on_explicit_pairs_and_hand_scores(tiny_rm):
    pairs = [PreferencePair("p", "short", "a much longer one"), PreferencePair("p", "b", "w")]
    # texts in order: short, long, b, w -> pairs (0 > 1): 3 > 1 right; (2 > 3): 0 == 0 tie -> (1 + 0.5) / 2
    result = evaluate(tiny_rm, pairs, scores=torch.tensor([3.0, 1.0, 0.0, 0.0]))
    assert (result["ranking_accuracy"], result["n_pairs"]) == (0.75, 2)
    assert result["auc"] == pytest.approx(0.625)  # better = 1, worse = 0: 2.5 of 4 positive-negative orders
    assert result["baselines"]["length"] == 0.75 and result["baselines"]["length_direction"] == "shorter_is_better"


def test_evaluate_records_reports_ece_for_bce_and_tfidf_baseline(tiny_rm):
    records = [
        OutcomeRecord("p", "the answer is 4", 1.0),
        OutcomeRecord("p", "no idea at all", 0.0),
        OutcomeRecord("q", "the answer is 9", 1.0),
        OutcomeRecord("q", "no idea", 0.0),
    ]
    tiny_rm.trained_with = "bce"
    result = evaluate(tiny_rm, records, train_records=records, scores=torch.tensor([0.0, 0.0, 2.0, -2.0]))
    assert (result["ranking_accuracy"], result["n_pairs"]) == (0.75, 2)
    p = 1 / (1 + math.exp(-2.0))  # bins: {0.5, 0.5} (labels 1, 0) -> 0; {p} (1) -> 1 - p; {1 - p} (0) -> 1 - p
    assert result["ece"] == pytest.approx(2 * (1 - p) / 4)
    assert result["baselines"]["tfidf_logreg"] == 1.0
    assert result["reward"]["mean"] == 0.0 and result["warnings"] == []


def test_evaluate_by_tag_of_the_worse_record(tiny_rm):
    records = [OutcomeRecord("p", "right", 1.0), OutcomeRecord("p", "slip", 0.0), OutcomeRecord("p", "ramble", 0.0)]
    # pairs: right > slip (1 vs 2: wrong), right > ramble (1 vs 0: right)
    result = evaluate(tiny_rm, records, scores=torch.tensor([1.0, 2.0, 0.0]), tags=["correct", "slip", "rambling"])
    assert result["by_tag"] == {
        "rambling": {"ranking_accuracy": 1.0, "n_pairs": 1},
        "slip": {"ranking_accuracy": 0.0, "n_pairs": 1},
    }
    assert result["ranking_accuracy"] == 0.5


def test_distribution_warnings():
    assert "collapsed" in distribution_warnings({"mean": 1.0, "std": 0.0, "min": 1.0, "max": 1.0})[0]
    assert "blew up" in distribution_warnings({"mean": 0.0, "std": 5e3, "min": -1e4, "max": 1e4})[0]
    assert "non-finite" in distribution_warnings({"mean": math.nan, "std": 0.0, "min": 0.0, "max": 0.0})[0]
    assert distribution_warnings({"mean": 0.0, "std": 1.0, "min": -2.0, "max": 2.0}) == []
