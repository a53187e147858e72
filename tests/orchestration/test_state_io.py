"""Checkpoint state without pickle: what is saved comes back exactly (types included), and a resumed
optimizer steps exactly like the one that never stopped."""

import json
import random

import numpy as np
import pytest
import torch

from orchestration.state_io import load_state, save_state


def trained_optimizer(fused: bool):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.95), fused=fused)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step))
    return model, optimizer, scheduler


def train(model, optimizer, scheduler, steps, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        loss = model(torch.randn(16, 4, generator=g)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


@pytest.mark.parametrize("fused", [False, True])
def test_optimizer_scheduler_and_rng_states_round_trip_exactly(tmp_path, fused, same_state):
    model, optimizer, scheduler = trained_optimizer(fused)
    train(model, optimizer, scheduler, 3, seed=1)
    random.seed(3)
    np.random.seed(4)
    state = {
        "optimizer": optimizer.state_dict(),  # int keys, 0-dim `step` tensors, betas tuples, None, bools
        "scheduler": scheduler.state_dict(),
        "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
        "alarm": {"history": [(0.1, 0.5), (float("nan"), float("inf"))]},
        "odd": {
            "__tuple__": 1,
            7: "int key",
            "bf16": torch.arange(6, dtype=torch.bfloat16).reshape(2, 3),
            "strided": torch.arange(12.0).reshape(3, 4).t(),
            "empty": torch.zeros(0, 3),
            "np": np.float32(2.5),
        },
        "none": None,
    }
    save_state(state, str(tmp_path / "s"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.safetensors"]
    same_state(state, load_state(str(tmp_path / "s")))


def test_a_restored_optimizer_continues_exactly(tmp_path):
    model, optimizer, scheduler = trained_optimizer(fused=False)
    train(model, optimizer, scheduler, 3, seed=1)
    save_state(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
        str(tmp_path / "s"),
    )
    train(model, optimizer, scheduler, 2, seed=2)  # the uninterrupted run

    resumed, resumed_optimizer, resumed_scheduler = trained_optimizer(fused=False)
    saved = load_state(str(tmp_path / "s"))
    resumed.load_state_dict(saved["model"])
    resumed_optimizer.load_state_dict(saved["optimizer"])
    resumed_scheduler.load_state_dict(saved["scheduler"])
    train(resumed, resumed_optimizer, resumed_scheduler, 2, seed=2)
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    assert resumed_scheduler.get_last_lr() == scheduler.get_last_lr()


def test_the_json_holds_no_tensor_data_and_nothing_is_pickled(tmp_path):
    save_state({"big": torch.ones(1000), "n": 3}, str(tmp_path / "s"))
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved == {"format": 1, "state": {"big": {"__tensor__": "/big"}, "n": 3}}


def test_what_cannot_be_stored_is_refused_with_its_place(tmp_path):
    with pytest.raises(TypeError, match=r"a set at '/alarm/history'"):
        save_state({"alarm": {"history": {1, 2}}}, str(tmp_path / "s"))


def test_files_from_different_saves_are_refused(tmp_path):
    save_state({"a": torch.ones(2), "b": torch.zeros(2)}, str(tmp_path / "two"))
    save_state({"a": torch.ones(2)}, str(tmp_path / "one"))
    (tmp_path / "two.json").replace(tmp_path / "mixed.json")
    (tmp_path / "one.safetensors").replace(tmp_path / "mixed.safetensors")
    with pytest.raises(KeyError):
        load_state(str(tmp_path / "mixed"))
    (tmp_path / "one.json").replace(tmp_path / "mixed.json")
    (tmp_path / "two.safetensors").replace(tmp_path / "mixed.safetensors")
    with pytest.raises(ValueError, match="never names"):
        load_state(str(tmp_path / "mixed"))
