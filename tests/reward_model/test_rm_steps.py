"""The step-level reward model on a tiny random BERT: layout, truncation, batching invariance, persistence,
aggregation, step records, the step metric, and that BCE per step learns a separable toy task."""

import json
import math
import random

import pytest
import torch

from reward_model import ScalarRewardModel
from reward_model.data import DataError, StepRecord, load_step_records
from reward_model.metrics import step_ranking_accuracy
from reward_model.step_model import StepRewardModel, aggregate_steps, line_spans
from reward_model.train import RMTrainConfig, StepRMTrainer
from verifiers.steps import segment


@pytest.fixture
def step_rm(tiny_encoder_dir):
    return StepRewardModel.from_encoder(tiny_encoder_dir, max_length=64, seed=0)


RESPONSE = "4 + 7 = 11\n11 * 3 = 33\nso \\boxed{33}"


def tokens(rm, ids):
    return rm.tokenizer.convert_ids_to_tokens(ids)


def test_layout_marks_each_step_end_and_the_closing_token_marks_the_last(step_rm):
    (enc,) = step_rm.encode_steps(["what is (4 + 7) * 3?"], [RESPONSE], [step_rm.spans_of(RESPONSE)])
    toks = tokens(step_rm, enc.input_ids)
    assert toks == [
        "[CLS]",
        "what",
        "is",
        "(",
        "4",
        "+",
        "7",
        ")",
        "*",
        "3",
        "?",
        "[SEP]",
        "4",
        "+",
        "7",
        "=",
        "11",
        "[SEP]",
        "11",
        "*",
        "3",
        "=",
        "33",
        "[SEP]",
        "so",
        "\\",
        "boxed",
        "{",
        "33",
        "}",
        "[SEP]",
    ]
    assert enc.markers == [17, 23, 30] and enc.first_kept == 0
    assert enc.token_type_ids == [0] * 12 + [1] * 19
    # one step: the same tokens as the outcome-level pair encoding
    ((ids, types),) = step_rm.encode(["q"], ["it is 5"])
    (one,) = step_rm.encode_steps(["q"], ["it is 5"], [[(0, 7)]])
    assert (one.input_ids, one.token_type_ids, one.markers) == (ids, types, [len(ids) - 1])


def test_truncation_cuts_the_prompt_then_whole_leading_steps(step_rm):
    step_rm.max_length = 16
    steps = [f"{i} + 1 = {i + 1}" for i in range(6)]  # 5 tokens + marker each
    response = "\n".join(steps)
    spans = step_rm.spans_of(response)
    (enc,) = step_rm.encode_steps(["a long question " * 5], [response], [spans])
    # 16 - [CLS] - [SEP] = 14 tokens: two whole steps (12), the prompt gets the 2 left
    assert enc.first_kept == 4 and len(enc.input_ids) == 16
    assert tokens(step_rm, enc.input_ids) == [
        "[CLS]",
        "a",
        "long",
        "[SEP]",
        "4",
        "+",
        "1",
        "=",
        "5",
        "[SEP]",
        "5",
        "+",
        "1",
        "=",
        "6",
        "[SEP]",
    ]
    (scores,) = step_rm.score_steps(["a long question " * 5], [response], [spans])
    assert torch.isnan(scores[:4]).all() and torch.isfinite(scores[4:]).all()
    # a last step longer than the whole budget keeps its end
    long_step = " ".join(str(i) for i in range(40))
    (enc,) = step_rm.encode_steps(["q"], ["1 = 1\n" + long_step], [[(0, 5), (6, 6 + len(long_step))]])
    assert enc.first_kept == 1 and len(enc.input_ids) == 16
    assert tokens(step_rm, enc.input_ids)[-3:] == ["38", "39", "[SEP]"]


def test_step_scores_are_independent_of_batching_and_padding(step_rm):
    prompts = ["what is 1 + 1?", "q", "a much longer prompt about adding numbers together", "x"]
    responses = ["1 + 1 = 2\n\\boxed{2}", "a long answer\n" * 5, "3 = 3", ""]
    batched = step_rm.score_steps(prompts, responses, batch_size=3)
    for p, r, b in zip(prompts, responses, batched):
        (alone,) = step_rm.score_steps([p], [r], batch_size=1)
        torch.testing.assert_close(b, alone, rtol=1e-5, atol=1e-5)
    assert [len(s) for s in batched] == [2, 5, 1, 1]  # a blank response is one empty step
    # the head on each marker's hidden state, computed by hand for the first response
    (enc,) = step_rm.encode_steps(prompts[:1], responses[:1], [step_rm.spans_of(responses[0])])
    with torch.no_grad():
        step_rm.eval()
        hidden = step_rm.hidden_states(**step_rm.collate([(enc.input_ids, enc.token_type_ids)]))[0]
        by_hand = step_rm.head(hidden[enc.markers]).squeeze(-1)
    torch.testing.assert_close(batched[0], by_hand, rtol=1e-5, atol=1e-5)


def test_save_and_load_round_trip_and_level_checks(step_rm, tiny_rm, tiny_encoder_dir, tmp_path):
    step_rm.aggregate = "product"
    step_rm.save_pretrained(str(tmp_path / "step"))
    loaded = ScalarRewardModel.from_pretrained(str(tmp_path / "step"))  # the saved level decides the class
    assert isinstance(loaded, StepRewardModel) and loaded.aggregate == "product"
    for a, b in zip(step_rm.score_steps(["q"], [RESPONSE]), loaded.score_steps(["q"], [RESPONSE])):
        torch.testing.assert_close(a, b)
    config = json.loads((tmp_path / "step" / "reward_model.json").read_text())
    assert config["level"] == "step" and config["step_marker"] == step_rm.tokenizer.sep_token_id
    tiny_rm.save_pretrained(str(tmp_path / "outcome"))
    with pytest.raises(ValueError, match="outcome-level reward model; load it with ScalarRewardModel"):
        StepRewardModel.from_pretrained(str(tmp_path / "outcome"))
    with pytest.raises(ValueError, match="aggregate must be one of"):
        StepRewardModel.from_encoder(tiny_encoder_dir, max_length=64, aggregate="mean")


def test_outcome_score_aggregates_step_scores(step_rm):
    (steps,) = step_rm.score_steps(["q"], [RESPONSE])
    assert step_rm.score(["q"], [RESPONSE]).item() == pytest.approx(steps.min().item())
    step_rm.aggregate = "product"
    p = torch.sigmoid(steps.double()).prod()
    assert step_rm.score(["q"], [RESPONSE]).item() == pytest.approx(math.log(p / (1 - p)), rel=1e-5)
    assert aggregate_steps(torch.tensor([float("nan"), 2.0, -1.0])).item() == -1.0  # cut-away steps ignored
    assert math.isnan(aggregate_steps(torch.tensor([float("nan")])).item())
    assert aggregate_steps(torch.tensor([0.0, 0.0]), "product").item() == pytest.approx(math.log(0.25 / 0.75))


def test_step_ranking_accuracy_by_hand():
    # group a: steps (0.9, 1), (0.2, 0), (0.5, None), (0.4, 0); group b: (0.1, 1), (0.3, 0) -> pairs
    # a: 0.9 > 0.2, 0.9 > 0.4 (2 right); b: 0.1 < 0.3 (wrong); the unlabelled and NaN steps are left out
    scores = [torch.tensor([0.9, 0.2]), torch.tensor([0.5, 0.4]), torch.tensor([0.1, 0.3, float("nan")])]
    labels = [[1.0, 0.0], [None, 0.0], [1.0, 0.0, 1.0]]
    assert step_ranking_accuracy(scores, labels, ["a", "a", "b"]) == (pytest.approx(2 / 3), 3)
    with pytest.raises(ValueError, match="response 0: 2 step scores but 1 labels"):
        step_ranking_accuracy(scores[:1], [[1.0]], ["a"])


def test_load_step_records_both_forms_and_errors(tmp_path):
    path = tmp_path / "steps.jsonl"
    rows = [
        {"prompt": "p", "response": "1 = 1\n2 = 3", "steps": [[0, 5, 1], [6, 11, 0]], "outcome": 0, "group": 7},
        {"prompt": "p", "steps": ["a = a", "so 1"], "labels": [True, None]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    first, second = load_step_records(str(path))
    assert first == StepRecord("p", "1 = 1\n2 = 3", ((0, 5), (6, 11)), (1.0, 0.0), 0.0, "7")
    assert second == StepRecord("p", "a = a\nso 1", ((0, 5), (6, 10)), (1.0, None), None, None)
    bad = [
        ({"prompt": "p", "response": "abc", "steps": [[0, 9, 1]]}, r"row 1: field 'steps'\[0\] must be"),
        ({"prompt": "p", "response": "abc", "steps": [[0, 2, 2]]}, r"row 1 field 'steps'\[0\]: a step label"),
        ({"prompt": "p", "steps": ["a"], "labels": [1, 0]}, "row 1: with 'labels'"),
        ({"prompt": "p", "response": "abc"}, "row 1: field 'steps' must be a list"),
    ]
    for row, message in bad:
        path.write_text(json.dumps(row))
        with pytest.raises(DataError, match=message):
            load_step_records(str(path))


def toy_step_records(n: int, seed: int) -> list[StepRecord]:
    """Good steps state a sum, bad steps hedge; each response mixes both, so only the step itself tells them apart."""
    rng, records = random.Random(seed), []
    for p in range(n):
        a = rng.randint(1, 40)
        good, bad = f"we add to get {a + 1}", f"maybe it is around {a + rng.randint(2, 5)} perhaps"
        for k in range(2):
            steps = [good, bad] if k == 0 else [bad, good, good]
            text = "\n".join(steps)
            spans, start = [], 0
            for s in steps:
                spans.append((start, start + len(s)))
                start += len(s) + 1
            records.append(
                StepRecord(
                    f"add one to {a}", text, tuple(spans), tuple(float(s == good) for s in steps), group=f"{seed}-{p}"
                )
            )
    return records


def test_step_trainer_learns_a_separable_step_task(step_rm):
    train, held = toy_step_records(40, seed=1), toy_step_records(12, seed=2)
    spans = [list(r.spans) for r in held]
    before = step_ranking_accuracy(
        step_rm.score_steps([r.prompt for r in held], [r.response for r in held], spans),
        [r.labels for r in held],
        [r.group_key for r in held],
    )[0]
    cfg = RMTrainConfig(
        epochs=8,
        batch_size=8,
        lr_encoder=1e-3,
        lr_head=3e-3,
        val_fraction=0.0,
        progress_bar=False,
        freeze_token_embeddings=False,
    )
    metrics = StepRMTrainer(step_rm, cfg).fit(train + [StepRecord("p", "x", ((0, 1),), (None,))])
    after = step_ranking_accuracy(
        step_rm.score_steps([r.prompt for r in held], [r.response for r in held], spans),
        [r.labels for r in held],
        [r.group_key for r in held],
    )[0]
    assert metrics["n_examples"] == len(train)  # the record without a labelled step is left out
    assert after >= 0.95 and after > before
    assert step_rm.trained_with == "bce"


def test_step_trainer_refuses_other_models_and_losses(step_rm, tiny_rm):
    with pytest.raises(ValueError, match="trains a StepRewardModel, got a ScalarRewardModel"):
        StepRMTrainer(tiny_rm, RMTrainConfig())
    with pytest.raises(ValueError, match="loss=bce"):
        StepRMTrainer(step_rm, RMTrainConfig(loss="mse"))


def write_step_rows(path, records):
    with open(path, "w") as f:
        for r in records:
            f.write(
                json.dumps(
                    {
                        "prompt": r.prompt,
                        "response": r.response,
                        "group": r.group,
                        "steps": [[a, b, v] for (a, b), v in zip(r.spans, r.labels)],
                    }
                )
                + "\n"
            )
    return str(path)


def test_train_and_evaluate_cli_at_step_level(tmp_path, tiny_encoder_dir, capsys):
    from reward_model import evaluate as evaluate_module
    from reward_model import train as train_module

    train_file = write_step_rows(tmp_path / "train.jsonl", toy_step_records(40, seed=1))
    held_file = write_step_rows(tmp_path / "held.jsonl", toy_step_records(12, seed=2))
    out = str(tmp_path / "prm")
    train_module.main(
        [
            "--level",
            "step",
            "--data",
            train_file,
            "--output",
            out,
            "--encoder",
            tiny_encoder_dir,
            "--max-length",
            "64",
            "--epochs",
            "8",
            "--batch-size",
            "8",
            "--lr-encoder",
            "1e-3",
            "--lr-head",
            "3e-3",
            "--no-freeze-token-embeddings",
            "--no-progress-bar",
            "--aggregate",
            "product",
        ]
    )
    capsys.readouterr()
    result = evaluate_module.main(["--level", "step", "--model", out, "--data", held_file])
    printed = json.loads(capsys.readouterr().out)
    assert printed["step_ranking_accuracy"] == pytest.approx(result["step_ranking_accuracy"])
    assert result["step_ranking_accuracy"] >= 0.95 and result["step_auc"] >= 0.95
    # 12 prompts: responses [good, bad] and [bad, good, good] -> 3 good x 2 bad steps = 6 pairs a prompt
    assert result["n_step_pairs"] == 72 and result["n_labelled_steps"] == result["n_steps"] == 60
    # outcomes from the labels (no `outcome` field): both responses hold a bad step, so no outcome pair
    assert result["n_outcome_pairs"] == 0
    assert set(result["baselines"]) == {"step_length", "step_length_direction", "position_later_is_worse"}
    assert ScalarRewardModel.from_pretrained(out).aggregate == "product"
    with pytest.raises(SystemExit, match="is an outcome-level RM"):
        ScalarRewardModel.from_encoder(tiny_encoder_dir, max_length=64).save_pretrained(str(tmp_path / "orm"))
        evaluate_module.main(["--level", "step", "--model", str(tmp_path / "orm"), "--data", held_file])
    with pytest.raises(SystemExit, match="--level step trains with --loss bce"):
        train_module.main(["--level", "step", "--data", train_file, "--output", out, "--loss", "mse"])
    outcome_file = tmp_path / "outcomes.jsonl"
    outcome_file.write_text(json.dumps({"prompt": "p", "response": "r", "outcome": 1}))
    with pytest.raises(SystemExit, match="is a step-level RM but --level is outcome"):
        train_module.main(["--data", str(outcome_file), "--output", str(tmp_path / "x"), "--init-from", out])


@pytest.mark.parametrize(
    "text", ["", "   \n\n", "one line", "  a = 1  \n\n\tb = 2\n", "x\r\ny", "1 + 1 = 2\n  \nso \\boxed{2} "]
)
def test_line_spans_are_the_rule_checkers_lines(text):
    """The step RM's own line rule (reward_model imports no verifiers) gives exactly `segment`'s "lines" spans."""
    assert line_spans(text) == [(s.start, s.end) for s in segment(text, mode="lines")]


def test_line_spans_are_linear_on_hostile_blank_runs():
    import time

    text = "a" + " " * 200_000 + "\n" + " " * 200_000 + "b"
    start = time.perf_counter()
    assert line_spans(text) == [(0, 1), (len(text) - 1, len(text))]
    assert time.perf_counter() - start < 5.0  # a backtracking regex takes minutes here
