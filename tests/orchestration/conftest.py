"""Shared by the loop tests: command-line arguments for a short run on the tiny models of tests/conftest.py,
and a deep comparison of saved states."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def tiny_run_args(tiny_policy_dir, tiny_encoder_dir):
    """tiny_run_args(**{"loop.max_steps": 3}) -> overrides for load_config / train_loop.main: a run of a few
    seconds with an RM update every 2 steps and a checkpoint every 2 steps (2 kept)."""

    def make(**extra) -> list[str]:
        args = {
            "policy.name_or_path": tiny_policy_dir,
            "sampling.max_new_tokens": 8,
            "grpo.lr": 1e-3,
            "grpo.micro_batch_size": 8,
            "rm.encoder": tiny_encoder_dir,
            "rm.max_length": 64,
            "rm.update_every": 2,
            "rm.train.epochs": 1,
            "rm.train.batch_size": 8,
            "data.eval_size": 2,
            "data.eval_samples": 1,
            "loop.max_steps": 4,
            "loop.prompts_per_step": 2,
            "loop.group_size": 4,
            "loop.eval_every": 2,
            "loop.checkpoint_every": 2,
            "loop.keep_checkpoints": 2,
            "logging.progress_bar": False,
            "loop.reward_source": "rm",
            **extra,
        }
        return [
            item
            for key, value in args.items()
            for item in (f"--{key}", value if isinstance(value, str) else json.dumps(value))
        ]

    return make


def assert_same(saved, loaded, path="state"):
    """Equal values of equal types all the way down: torch.equal (and dtype) on tensors, == elsewhere,
    NaN equal to NaN."""
    assert type(loaded) is type(saved), (path, type(saved), type(loaded))
    if isinstance(saved, torch.Tensor):
        assert saved.dtype == loaded.dtype and saved.shape == loaded.shape, path
        saved = saved.cpu()
        if saved.is_floating_point():
            assert torch.equal(saved.isnan(), loaded.isnan()), path
            saved, loaded = saved.nan_to_num(), loaded.nan_to_num()
        assert torch.equal(saved, loaded), path
    elif isinstance(saved, np.ndarray):
        assert saved.dtype == loaded.dtype and np.array_equal(saved, loaded), path
    elif isinstance(saved, dict):
        assert list(saved) == list(loaded), path
        for key in saved:
            assert_same(saved[key], loaded[key], f"{path}[{key!r}]")
    elif isinstance(saved, (list, tuple)):
        assert len(saved) == len(loaded), path
        for i, (a, b) in enumerate(zip(saved, loaded)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(saved, float) and math.isnan(saved):
        assert math.isnan(loaded), path
    else:
        assert saved == loaded, path


@pytest.fixture
def same_state():
    """The deep comparison `assert_same(saved, loaded)`, for tests in any module."""
    return assert_same
