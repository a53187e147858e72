import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from policy.grpo import process_advantages
from policy.steps import step_tensors, token_step_ends
from verifiers.steps import segment

TEXT = "5 + 3 = 8\n8 * 3 = 24 ünï\n\nSo \\boxed{24}."


@pytest.fixture(scope="module")
def bpe():
    """A byte-level BPE trained in memory: multi-token words and characters split across tokens."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<pad>"]
    )
    backend.train_from_iterator(
        ["5 + 3 = 8\n8 * 3 = 24\nSo the answer is 24.", "héllo wörld ünïcode boxed"] * 20, trainer
    )
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>")


def test_character_tokens_end_where_the_characters_do(tokenizer):
    ids = tokenizer.encode("ab\ncd")
    steps = segment("ab\ncd")
    assert token_step_ends(tokenizer, ids, steps) == [1, 4]


def test_bpe_step_ends_are_the_first_tokens_that_complete_each_step(bpe):
    ids = bpe.encode(TEXT)
    steps = segment(TEXT)
    ends = token_step_ends(bpe, ids, steps)
    assert len(ends) == 3 and ends == sorted(ends)
    for step, t in zip(steps, ends):
        assert bpe.decode(ids[: t + 1]).startswith(TEXT[: step.end])  # the step is complete at token t ...
        assert not bpe.decode(ids[:t]).startswith(TEXT[: step.end])  # ... and not before it (a half character is not)
    assert ends[-1] == len(ids) - 1
    with pytest.raises(ValueError, match="beyond the completion's"):
        token_step_ends(bpe, ids[:3], steps)


def test_step_tensors_place_rewards_at_step_ends_and_feed_process_advantages(tokenizer):
    texts = ["ab\ncd", "x\ny\nz"]
    ids = [tokenizer.encode(t) for t in texts]
    width = max(map(len, ids))
    completion_ids = torch.tensor([row + [tokenizer.pad_token_id] * (width - len(row)) for row in ids])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids])
    steps = [segment(t) for t in texts]
    rewards, ends = step_tensors(tokenizer, completion_ids, mask, steps, [[1.0, 0.0], [None, 1.0, 0.0]])
    assert ends.tolist() == [[False, True, False, False, True], [False, False, True, False, True]]
    assert rewards[ends].tolist() == [1.0, 0.0, 1.0, 0.0]  # the unlabelled step "x" is no step end
    # Group of 2 with step rewards {1, 0, 1, 0}: mean 0.5, unbiased std sqrt(1/3); r~ = +-0.5 / (0.57735 + 1e-4)
    advantages = process_advantages(rewards, ends, group_size=2)
    r = 0.5 / (3**-0.5 + 1e-4)
    assert advantages[0].tolist() == pytest.approx([0.0, 0.0, -r, -r, -r], abs=1e-5)  # ends at 1 (+r), 4 (-r)
    assert advantages[0, 0].item() == pytest.approx(0.0, abs=1e-6) and advantages[1, 3].item() == pytest.approx(-r)
    with pytest.raises(ValueError, match="2 steps but 1 rewards"):
        step_tensors(tokenizer, completion_ids, mask, steps, [[1.0], [None, 1.0, 0.0]])
