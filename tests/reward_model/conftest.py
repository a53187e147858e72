"""Reward-model fixtures: a tiny RM on the shared tiny BERT (tests/conftest.py), single-threaded tests,
and a separable toy task in the shape of outcome records."""

from __future__ import annotations

import random

import pytest
import torch

from reward_model.data import OutcomeRecord


@pytest.fixture(autouse=True)
def single_thread():
    """One intra-op thread for these tests: on a shared 2-core machine, threads of tiny matmuls mostly wait
    on each other (a tiny-BERT fit measured 0.5 s with one thread, 7-36 s with two under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_rm(tiny_encoder_dir):
    from reward_model import ScalarRewardModel

    return ScalarRewardModel.from_encoder(tiny_encoder_dir, max_length=64, seed=0)


def toy_records(n_prompts: int, seed: int, per_prompt: int = 4) -> list[OutcomeRecord]:
    """Half of each prompt's responses state a boxed answer (correct), half hedge (wrong): separable by words."""
    rng = random.Random(seed)
    records = []
    for p in range(n_prompts):
        a, b = rng.randint(1, 50), rng.randint(1, 50)
        prompt = f"What is {a} + {b}?"
        for k in range(per_prompt):
            if k % 2 == 0:
                response = rng.choice(["We add them. The answer is", "Adding gives", "So the sum is"])
                response += f" \\boxed{{{a + b}}}."
            else:
                response = rng.choice(["Hmm, it might be", "I am not sure, perhaps", "Maybe around"])
                response += f" {a + b + rng.randint(-3, 3)} or so"
            records.append(OutcomeRecord(prompt, response, float(k % 2 == 0), group=f"toy{seed}-{p}"))
    return records


@pytest.fixture
def toy_task():
    return toy_records(48, seed=1), toy_records(16, seed=2)
