"""A causal-LM backbone for the reward model (a tiny random Llama with a character tokenizer): the pair
layout, last-token pooling under right and left padding, persistence, freezing the lower layers, the policy
as the backbone, and the step RM on a decoder (a step's score cannot see the steps after it)."""

import pytest
import torch

from reward_model import ScalarRewardModel
from reward_model.model import is_causal
from reward_model.step_model import StepRewardModel
from reward_model.train import RMTrainConfig, RMTrainer


@pytest.fixture
def lm_rm(tiny_policy_dir):
    return ScalarRewardModel.from_encoder(tiny_policy_dir, max_length=64, seed=0)


def test_a_causal_backbone_is_detected_and_pooled_at_its_last_token(lm_rm, tiny_rm, tiny_policy_dir):
    assert is_causal(lm_rm.encoder) and not is_causal(tiny_rm.encoder)
    assert lm_rm.pooling == "last" and tiny_rm.pooling == "cls"  # the defaults
    ((ids, types),) = lm_rm.encode(["2+3?"], ["5"])
    assert lm_rm.tokenizer.decode(ids) == "2+3?\n\n5<|im_end|>" and types == [0] * len(ids)  # no BOS in this vocab
    with pytest.raises(ValueError, match="pooling='cls' reads the first token"):
        ScalarRewardModel.from_encoder(tiny_policy_dir, pooling="cls", max_length=64)


def test_last_token_pooling_matches_one_row_at_a_time_under_both_paddings(lm_rm):
    prompts, responses = ["what is 1 + 1?", "q", "a longer prompt about numbers"], ["2", "a long answer " * 3, "3"]
    lm_rm.eval()
    encoded = lm_rm.encode(prompts, responses)
    with torch.no_grad():
        alone = torch.stack([lm_rm(**lm_rm.collate([e])) for e in encoded]).squeeze(-1)
        right = lm_rm(**lm_rm.collate(encoded))
        width = max(len(ids) for ids, _ in encoded)
        pad = lm_rm.tokenizer.pad_token_id
        left_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids, _ in encoded])
        left_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids, _ in encoded])
        # RoPE is relative, so shifting a row right by its padding leaves its scores as they were
        left = lm_rm(input_ids=left_ids, attention_mask=left_mask)
    torch.testing.assert_close(right, alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(left, alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lm_rm.score(prompts, responses, batch_size=2), alone, rtol=1e-5, atol=1e-5)


def test_decoder_rm_round_trip(lm_rm, tmp_path):
    lm_rm.save_pretrained(str(tmp_path / "rm"))
    loaded = ScalarRewardModel.from_pretrained(str(tmp_path / "rm"))
    assert loaded.causal and loaded.pooling == "last"
    torch.testing.assert_close(loaded.score(["q"], ["a"]), lm_rm.score(["q"], ["a"]))


def test_trainable_layers_freezes_all_but_the_top_layers(lm_rm, toy_task):
    train_records, _ = toy_task
    before = {n: p.detach().clone() for n, p in lm_rm.named_parameters()}
    RMTrainer(
        lm_rm, RMTrainConfig(trainable_layers=1, max_steps=2, batch_size=8, val_fraction=0.0, progress_bar=False)
    ).fit(train_records[:16])
    moved = {n for n, p in lm_rm.named_parameters() if not torch.equal(p, before[n])}
    trainable = {n for n, p in lm_rm.named_parameters() if p.requires_grad}
    assert trainable == {n for n in before if n.startswith(("encoder.layers.1.", "encoder.norm.", "head."))}
    assert moved and moved <= trainable and any(n.startswith("encoder.layers.1.") for n in moved)
    with pytest.raises(ValueError, match="trainable_layers=3 but the backbone has 2 layers"):
        RMTrainer(lm_rm, RMTrainConfig(trainable_layers=3))


def test_the_policy_as_backbone(tiny_policy_dir):
    rm = ScalarRewardModel.from_encoder("policy", policy=tiny_policy_dir, max_length=64, seed=0)
    assert rm.causal and rm.encoder_name == f"policy:{tiny_policy_dir}"
    assert type(rm.encoder).__name__ == "LlamaModel"  # the transformer without its LM head
    assert rm.score(["q"], ["a"]).shape == (1,)


def test_a_step_score_on_a_decoder_does_not_see_later_steps(tiny_policy_dir):
    rm = StepRewardModel.from_encoder(tiny_policy_dir, max_length=64, seed=0)
    assert rm.marker_id == rm.tokenizer.eos_token_id  # no separator token: EOS marks step ends
    (one,) = rm.score_steps(["q"], ["1+1=2\n2+2=4"])
    (two,) = rm.score_steps(["q"], ["1+1=2\n2+2=5"])
    assert one[0].item() == pytest.approx(two[0].item(), abs=1e-6) and one[1].item() != two[1].item()
