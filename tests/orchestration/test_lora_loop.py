"""The online loop with `policy.lora` on the tiny random models (seconds each): a resumed run equals the
uninterrupted one (with and without a reference reset), checkpoints and final/ hold the adapters and a merged
model, rft samples from the base weights, and the config's errors name their keys."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from orchestration.config import TrainConfig, load_config
from orchestration.dataclass_yaml import ConfigError, apply_overrides, from_dict, help_text
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer
from policy.lora import ADAPTER_DIR, MERGED_DIR, LoraConfig, load_lora

pytest.importorskip("peft")

LORA = {"policy.lora": {"r": 4}}


def _comparable(path):
    drop = ("timing/", "rm/update/seconds", "rm/update/examples_per_second")
    return [{k: v for k, v in m.items() if not k.startswith(drop)} for m in read_metrics(path)]


def _adapters(trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.named_parameters() if ".lora_" in k}


@pytest.mark.parametrize("reset", [False, True], ids=["plain", "reference_reset"])
def test_a_resumed_lora_run_equals_the_uninterrupted_one(tiny_run_args, tiny_policy_dir, tmp_path, same_state, reset):
    extra = {**LORA, "loop.reset_reference_on_rm_update": reset}
    full = OnlineTrainer(load_config(None, tiny_run_args(**extra)), str(tmp_path / "full"))
    full.run()
    interrupted = str(tmp_path / "resumed")
    # A run finished at step 2, then extended: its last checkpoint keeps the optimizer state, as every checkpoint
    # before the end of a run does (loop.final_optimizer_state).
    OnlineTrainer(
        load_config(None, tiny_run_args(**extra, **{"loop.max_steps": 2, "loop.final_optimizer_state": True})),
        interrupted,
    ).run()
    assert os.path.isdir(os.path.join(interrupted, "checkpoints", "step-000002", ADAPTER_DIR, "reference")) == reset
    resumed = OnlineTrainer(load_config(None, tiny_run_args(**extra)), interrupted)
    assert resumed.state.step == 2 and resumed.state.reference_reset == reset
    resumed.run()
    assert Path(interrupted, "outcomes.jsonl").read_text() == Path(full.output_dir, "outcomes.jsonl").read_text()
    assert _comparable(os.path.join(interrupted, "metrics.jsonl")) == _comparable(
        os.path.join(full.output_dir, "metrics.jsonl")
    )
    # Adapters (the reset's snapshot too), Adam's moments, schedule and counters: the same to the bit.
    same_state(_adapters(full), _adapters(resumed))
    same_state(full.updater.state_dict(), resumed.updater.state_dict())
    same_state(
        load_file(os.path.join(full.output_dir, "final", ADAPTER_DIR, "adapter_model.safetensors")),
        load_file(os.path.join(interrupted, "final", ADAPTER_DIR, "adapter_model.safetensors")),
    )
    # The base weights never moved: they are the starting checkpoint's.
    start = AutoModelForCausalLM.from_pretrained(tiny_policy_dir).state_dict()
    base = {
        k.replace(".base_layer.", "."): v
        for k, v in resumed.model.get_base_model().state_dict().items()
        if ".lora_" not in k
    }
    same_state(dict(start), base)


@pytest.mark.filterwarnings("error")
def test_a_lora_run_saves_adapters_and_a_merged_model_without_warnings(
    tiny_run_args, tiny_policy_dir, tmp_path, caplog
):
    import logging

    from orchestration.train_loop import main

    run = str(tmp_path / "run")
    with caplog.at_level(logging.WARNING):
        main(["--output-dir", run, *tiny_run_args(**LORA, **{"loop.max_steps": 2})])  # checkpoint at step 2
        main(["--output-dir", run, *tiny_run_args(**LORA, **{"loop.max_steps": 3})])  # resume, run step 3
    assert [m["step"] for m in read_metrics(f"{run}/metrics.jsonl")] == [1, 2, 3]
    libraries = ("transformers", "accelerate", "torch", "peft", "safetensors")
    assert not [r.getMessage() for r in caplog.records if r.name.startswith(libraries)]
    assert yaml.safe_load(Path(run, "config.yaml").read_text())["policy"]["lora"]["r"] == 4
    for directory in (f"{run}/checkpoints/step-000002", f"{run}/final"):
        names = set(os.listdir(directory))
        assert {ADAPTER_DIR, MERGED_DIR} <= names and "reference" not in names  # the reference is no copy
    # final/policy is a plain model (merged) computing what the adapters over the starting checkpoint compute.
    merged = AutoModelForCausalLM.from_pretrained(f"{run}/final/{MERGED_DIR}")
    adapted = load_lora(AutoModelForCausalLM.from_pretrained(tiny_policy_dir), f"{run}/final/{ADAPTER_DIR}")
    ids = torch.arange(5, 30)[None]
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, adapted(ids).logits, rtol=0, atol=1e-5)


def test_rft_with_lora_samples_from_the_base_weights(tiny_run_args, tiny_policy_dir, tmp_path):
    cfg = load_config(
        None,
        tiny_run_args(
            **LORA,
            **{"loop.algorithm": "rft", "loop.reward_source": "verifier", "grpo.beta": 0.0, "loop.initial_eval": False},
        ),
    )
    trainer = OnlineTrainer(cfg, str(tmp_path))
    assert trainer.reference is None
    with torch.no_grad():
        for name, param in trainer.model.named_parameters():
            if ".lora_B." in name:
                param.fill_(0.05)  # as if trained: the policy now differs from its base weights
    ids = torch.arange(5, 30)[None]
    start = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    with torch.no_grad():
        with trainer.policy.behaviour() as behaviour:
            assert behaviour is trainer.model  # no copy of the initial policy ...
            assert torch.equal(behaviour(ids).logits, start(ids).logits)  # ... its adapters are off instead
        assert not torch.equal(trainer.model(ids).logits, start(ids).logits)  # and back on after
    assert trainer.policy._initial is None
    trainer.train_step()


def test_lora_config_shape_and_errors():
    assert load_config(None, []).policy.lora is None  # off by default: full fine-tuning
    assert load_config(None, ["--policy.lora.r", "8"]).policy.lora == LoraConfig(r=8)
    assert load_config(None, ["--policy.lora", "{}"]).policy.lora == LoraConfig()
    # A file that switches it off, and a command line that switches it on with one key.
    assert from_dict(
        TrainConfig, apply_overrides({"policy": {"lora": None}}, ["--policy.lora.alpha", "8"])
    ).policy.lora == LoraConfig(alpha=8.0)
    with pytest.raises(ConfigError, match=r"policy.lora: lora.r must be an integer >= 1"):
        load_config(None, ["--policy.lora.r", "0"])
    with pytest.raises(
        ConfigError,
        match=r"unknown config key 'policy.lora.rank'; known keys: \['alpha', 'dropout', "
        r"'r', 'target_modules'\]",
    ):
        load_config(None, ["--policy.lora.rank", "8"])
    with pytest.raises(ConfigError, match=r"policy.lora.target_modules: expected a list"):
        load_config(None, ["--policy.lora.target_modules", "q_proj"])
    with pytest.raises(ValueError, match=r"policy.lora.dropout=0.1 would be set to 0 by grpo.disable_dropout"):
        load_config(None, ["--policy.lora.dropout", "0.1"])
    assert load_config(None, ["--policy.lora.dropout", "0.1", "--grpo.disable_dropout", "false"]).policy.lora.dropout
    lines = help_text(TrainConfig)
    assert any(line.startswith("  --policy.lora (None): train LoRA adapters") for line in lines)
    assert any(line.startswith("  --policy.lora.r (16): adapter rank") for line in lines)


def test_without_peft_the_loop_stops_before_loading_a_model(monkeypatch, tmp_path):
    from orchestration import train_loop

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "peft" else find_spec(name, *a))
    with pytest.raises(SystemExit, match=r'policy.lora needs peft: pip install -e "\.\[lora\]"'):
        train_loop.main(["--output-dir", str(tmp_path), "--policy.lora.r", "4"])


def test_rm_lora_run_resumes_exactly_and_saves_the_adapters(tiny_run_args, tmp_path, same_state):
    """rm.lora: the online RM trains adapters (the tiny BERT's own weights frozen); a resumed run's RM, its
    optimizer state and every logged number equal the uninterrupted run's."""
    from reward_model import ScalarRewardModel

    extra = {"rm.lora": {"r": 2}}
    full = OnlineTrainer(load_config(None, tiny_run_args(**extra)), str(tmp_path / "full"))
    full.run()
    interrupted = str(tmp_path / "resumed")
    # A run finished at step 2, then extended: its last checkpoint keeps the optimizer state, as every checkpoint
    # before the end of a run does (loop.final_optimizer_state).
    OnlineTrainer(
        load_config(None, tiny_run_args(**extra, **{"loop.max_steps": 2, "loop.final_optimizer_state": True})),
        interrupted,
    ).run()
    resumed = OnlineTrainer(load_config(None, tiny_run_args(**extra)), interrupted)
    assert resumed.state.step == 2
    resumed.run()
    assert _comparable(os.path.join(interrupted, "metrics.jsonl")) == _comparable(
        os.path.join(full.output_dir, "metrics.jsonl")
    )
    same_state(full.rm.trainer.state_dict(), resumed.rm.trainer.state_dict())
    rm = ScalarRewardModel.from_pretrained(os.path.join(interrupted, "final", "rm"))
    assert rm.lora["r"] == 2 and rm.lora["target_modules"] == ["all-linear"]
    same_state(dict(full.rm.model.state_dict()), dict(rm.state_dict()))
    assert {n for n, p in rm.named_parameters() if p.requires_grad} == {
        n for n, _ in rm.named_parameters() if ".lora_" in n or n.startswith("head.")
    }
