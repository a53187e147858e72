"""Batched group sampling on a tiny random Llama: masks, stop tokens, padding invariance, seeds."""

from __future__ import annotations

import inspect
import logging

import pytest
import torch

from policy.sampling import (
    Rollouts,
    SamplingConfig,
    cache_name,
    encode_prompt,
    sample_continuations,
    sample_groups,
    sample_next,
    user_message,
)

PROMPTS = ["a", "hello world, how are you", user_message("2+3?"), "xy"]


def completion_rows(rollouts: Rollouts) -> list[list[int]]:
    return [row[mask.bool()].tolist() for row, mask in zip(rollouts.completion_ids, rollouts.completion_mask)]


def test_masks_end_at_the_stop_token(tiny_model, tokenizer):
    # Ten extra stop tokens make both stopped and truncated completions likely within 12 tokens.
    stops = tuple(range(60, 70))
    cfg = SamplingConfig(max_new_tokens=12, temperature=1.0, stop_token_ids=stops)
    rollouts = sample_groups(tiny_model, tokenizer, PROMPTS, 8, cfg, seed=0)
    stop_set = set(stops) | {tokenizer.eos_token_id}
    assert rollouts.completion_ids.shape[0] == len(PROMPTS) * 8
    assert rollouts.truncated.any() and (~rollouts.truncated).any()
    for row, mask, truncated in zip(
        rollouts.completion_ids.tolist(), rollouts.completion_mask.tolist(), rollouts.truncated
    ):
        length = sum(mask)
        assert mask == [1] * length + [0] * (len(mask) - length)  # a prefix
        assert not stop_set & set(row[: length - 1])  # no stop token before the last one
        if truncated:
            assert length == 12 and row[length - 1] not in stop_set
        else:
            assert row[length - 1] in stop_set
            assert all(t == tokenizer.pad_token_id for t in row[length:])


def test_left_padding_does_not_change_greedy_completions(make_tiny_model, tokenizer):
    model = make_tiny_model(seed=1, dtype=torch.float64)
    cfg = SamplingConfig(max_new_tokens=10, temperature=0.0)
    batched = completion_rows(sample_groups(model, tokenizer, PROMPTS, 2, cfg))
    alone = [rows for p in PROMPTS for rows in completion_rows(sample_groups(model, tokenizer, [p], 2, cfg))]
    assert batched == alone
    # Sub-batches (one prompt's group each) give the same completions too.
    small = completion_rows(
        sample_groups(
            model, tokenizer, PROMPTS, 2, SamplingConfig(max_new_tokens=10, temperature=0.0, max_batch_size=2)
        )
    )
    assert small == batched


def test_layout_prompts_and_texts(tiny_model, tokenizer):
    rollouts = sample_groups(tiny_model, tokenizer, PROMPTS, 3, SamplingConfig(max_new_tokens=6), seed=0)
    for i, prompt in enumerate(PROMPTS):
        expected = encode_prompt(tokenizer, prompt)
        for row in range(i * 3, (i + 1) * 3):  # group-contiguous, left-padded
            ids = rollouts.prompt_ids[row][rollouts.prompt_mask[row].bool()].tolist()
            assert ids == expected
            assert rollouts.prompt_mask[row, -1] == 1
    chat = tokenizer.apply_chat_template(PROMPTS[2], add_generation_prompt=True, tokenize=False)
    assert (
        chat.endswith("<|im_start|>assistant\n")
        and encode_prompt(tokenizer, PROMPTS[2]) == tokenizer(chat)["input_ids"]
    )
    for text, ids in zip(rollouts.texts, completion_rows(rollouts)):
        assert text == tokenizer.decode(ids, skip_special_tokens=True)
    assert tiny_model.training  # restored after sampling in eval mode
    subset = rollouts.select(torch.tensor([4, 0]))
    assert subset.texts == [rollouts.texts[4], rollouts.texts[0]] and subset.group_size == 3
    assert torch.equal(subset.completion_mask, rollouts.completion_mask[[4, 0]])


def test_seed_reproducibility(tiny_model, tokenizer):
    cfg = SamplingConfig(max_new_tokens=8, temperature=1.0, top_p=0.9, top_k=20)
    first = sample_groups(tiny_model, tokenizer, PROMPTS, 4, cfg, seed=3)
    again = sample_groups(tiny_model, tokenizer, PROMPTS, 4, cfg, seed=3)
    other = sample_groups(tiny_model, tokenizer, PROMPTS, 4, cfg, seed=4)
    assert torch.equal(first.completion_ids, again.completion_ids)
    assert first.texts != other.texts
    assert len(set(first.texts[:4])) > 1  # group members differ from each other


def test_top_k_one_is_greedy(tiny_model, tokenizer):
    greedy = sample_groups(tiny_model, tokenizer, PROMPTS, 2, SamplingConfig(max_new_tokens=8, temperature=0.0))
    top1 = sample_groups(
        tiny_model, tokenizer, PROMPTS, 2, SamplingConfig(max_new_tokens=8, temperature=1.5, top_k=1), seed=0
    )
    assert completion_rows(greedy) == completion_rows(top1)


def test_top_p_keeps_the_smallest_nucleus():
    # Probabilities 0.5, 0.3, 0.2: top_p = 0.6 keeps {0, 1}; top_p = 0.5 keeps {0}.
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).expand(2000, 3)
    g = torch.Generator().manual_seed(0)
    assert set(sample_next(logits, 1.0, 0, 0.6, g).tolist()) == {0, 1}
    assert set(sample_next(logits, 1.0, 0, 0.5, g).tolist()) == {0}
    assert set(sample_next(logits, 1.0, 2, 1.0, g).tolist()) == {0, 1}


def test_sampled_frequencies_follow_the_distribution():
    # 20000 draws from (0.5, 0.3, 0.15, 0.05, 0): frequencies within 4 standard errors; 0 never drawn.
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05, 0.0])
    logits = torch.log(probs).expand(20000, 5)
    draws = sample_next(logits, 1.0, 0, 1.0, torch.Generator().manual_seed(0))
    frequencies = torch.bincount(draws, minlength=5).double() / 20000
    assert frequencies[4] == 0
    assert torch.all((frequencies - probs).abs() <= 4 * (probs * (1 - probs) / 20000).sqrt() + 1e-12)
    # Temperature 2 flattens: p_i^(1/2) normalised.
    flat = probs[:4].sqrt() / probs[:4].sqrt().sum()
    draws = sample_next(torch.log(probs[:4]).expand(20000, 4), 2.0, 0, 1.0, torch.Generator().manual_seed(1))
    assert torch.allclose(torch.bincount(draws, minlength=4).double() / 20000, flat.double(), atol=0.015)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
        ({"temperature": -1.0}, "temperature must be >= 0"),
        ({"top_p": 0.0}, "top_p must be in"),
        ({"top_k": -1}, "top_k must be >= 0"),
        ({"max_batch_size": 0}, "max_batch_size must be >= 1"),
    ],
)
def test_config_errors_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SamplingConfig(**kwargs)


@pytest.mark.filterwarnings("error")
def test_sampling_uses_no_deprecated_api(tiny_model, tokenizer, caplog):
    # transformers deprecates through warnings and through its logger (`past_key_values` -> `cache` did both).
    with caplog.at_level(logging.WARNING, logger="transformers"):
        sample_groups(tiny_model, tokenizer, PROMPTS, 2, SamplingConfig(max_new_tokens=4), seed=0)
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("transformers")]


def test_the_cache_goes_back_under_the_name_the_model_gave_it(tiny_model):
    # transformers up to 5.18 returns and takes `past_key_values`; later ones `cache` (the old name warns).
    assert cache_name({"logits": None, "past_key_values": None}) == "past_key_values"
    assert cache_name({"logits": None, "cache": None}) == "cache"
    out = tiny_model(input_ids=torch.tensor([[5, 6]]), use_cache=True)
    assert cache_name(out) in inspect.signature(tiny_model.forward).parameters


# --- continuations of a partial answer (orchestration.mc_labels) ---

PAIRS = [
    ("a", "b"),
    (user_message("2+3?"), "2 + 3 = 5\n"),
    ("hello world, how are you", ""),
    (user_message("x"), "a much longer prefix\nover two lines\n"),
]


def encoded_pair(tokenizer, prompt, prefix) -> list[int]:
    return encode_prompt(tokenizer, prompt) + tokenizer(prefix, add_special_tokens=False)["input_ids"]


def greedy_reference(model, ids: list[int], max_new_tokens: int, stop_id: int) -> list[int]:
    """Token by token with a full forward over the whole sequence each time: no cache, no padding."""
    out = []
    for _ in range(max_new_tokens):
        token = int(model(input_ids=torch.tensor([ids + out])).logits[0, -1].argmax())
        out.append(token)
        if token == stop_id:
            break
    return out


def test_continuations_come_k_per_pair_in_order(tiny_model, tokenizer):
    rollouts = sample_continuations(
        tiny_model,
        tokenizer,
        [p for p, _ in PAIRS],
        [x for _, x in PAIRS],
        3,
        SamplingConfig(max_new_tokens=6, max_batch_size=6),
        seed=0,
    )
    assert len(rollouts) == len(rollouts.texts) == 3 * len(PAIRS) and rollouts.group_size == 3
    for i, (prompt, prefix) in enumerate(PAIRS):
        for row in range(i * 3, (i + 1) * 3):  # prompt_ids: the prompt and its prefix, what was conditioned on
            assert rollouts.prompt_ids[row][rollouts.prompt_mask[row].bool()].tolist() == encoded_pair(
                tokenizer, prompt, prefix
            )
    for text, ids in zip(rollouts.texts, completion_rows(rollouts)):  # continuations only
        assert text == tokenizer.decode(ids, skip_special_tokens=True)


def test_greedy_continuation_is_what_the_model_says_after_the_prefix(make_tiny_model, tokenizer):
    model = make_tiny_model(seed=2, dtype=torch.float64)
    rollouts = sample_continuations(
        model,
        tokenizer,
        [p for p, _ in PAIRS],
        [x for _, x in PAIRS],
        2,
        SamplingConfig(max_new_tokens=10, temperature=0.0),
    )
    with torch.no_grad():
        expected = [
            greedy_reference(model, encoded_pair(tokenizer, p, x), 10, tokenizer.eos_token_id) for p, x in PAIRS
        ]
    assert completion_rows(rollouts) == [e for e in expected for _ in range(2)]


def test_an_empty_prefix_is_sample_groups(tiny_model, tokenizer):
    # One decoding path: with no prefix, the same seed gives the same completions as sample_groups.
    cfg = SamplingConfig(max_new_tokens=8, temperature=1.0, max_batch_size=4)
    groups = sample_groups(tiny_model, tokenizer, PROMPTS, 2, cfg, seed=5)
    continued = sample_continuations(tiny_model, tokenizer, PROMPTS, [""] * len(PROMPTS), 2, cfg, seed=5)
    assert torch.equal(groups.completion_ids, continued.completion_ids) and groups.texts == continued.texts


def test_continuations_need_one_prefix_per_prompt(tiny_model, tokenizer):
    with pytest.raises(ValueError, match="one prefix per prompt"):
        sample_continuations(tiny_model, tokenizer, PROMPTS, ["x"], 2, SamplingConfig())
