"""Save and load a checkpoint's nested state without pickle: tensors in safetensors, the rest in JSON.

Unpickling runs whatever code the pickle names (`torch.load(weights_only=False)`), so resuming from a
checkpoint someone else wrote could run their code. Neither format used here can: a safetensors file holds
raw tensor bytes behind a JSON header, and JSON holds data only.

    save_state(state, "DIR/trainer_state")   # writes DIR/trainer_state.json and DIR/trainer_state.safetensors
    state = load_state("DIR/trainer_state")

`state` is a tree of dicts, lists, tuples, tensors, numpy arrays and scalars (what optimizers, schedulers and
RNGs hand out). It comes back exactly: tuples stay tuples (Adam's `betas`, `random.getstate()`), integer
dict keys stay integers (an optimizer's parameter ids), a 0-dim float `step` tensor stays one, and every
tensor keeps its dtype and shape. Tensors come back on the CPU; `load_state_dict` moves them where they
belong. A type outside that list raises at save time, naming where it sits, rather than being lost.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

FORMAT = 1
JSON_SUFFIX, TENSORS_SUFFIX = ".json", ".safetensors"
# JSON objects that stand for something JSON has no type for. A plain dict is only written as a JSON object
# when none of its keys starts with "__", so these markers can never be confused with user data.
_TENSOR, _ARRAY, _TUPLE, _DICT = "__tensor__", "__ndarray__", "__tuple__", "__dict__"


def save_state(state: Any, stem: str) -> None:
    """Write `state` to `stem.json` (structure and scalars) and `stem.safetensors` (every tensor)."""
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, "", tensors)
    save_file(tensors, stem + TENSORS_SUFFIX)
    with open(stem + JSON_SUFFIX, "w", encoding="utf-8") as f:
        json.dump({"format": FORMAT, "state": tree}, f)


def load_state(stem: str) -> Any:
    """Read what `save_state(state, stem)` wrote; raises ValueError if the two files do not match."""
    with open(stem + JSON_SUFFIX, encoding="utf-8") as f:
        saved = json.load(f)
    if saved.get("format") != FORMAT:
        raise ValueError(f"{stem}{JSON_SUFFIX} has format {saved.get('format')!r}; this version reads {FORMAT}")
    tensors = load_file(stem + TENSORS_SUFFIX)
    state = _decode(saved["state"], tensors)
    if tensors:  # every tensor is referenced once, so leftovers mean the two files come from different saves
        raise ValueError(f"{stem}{TENSORS_SUFFIX} holds tensors the JSON never names: {sorted(tensors)[:5]}")
    return state


def _encode(value: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value  # floats round-trip exactly through json (repr); NaN/inf as the NaN/Infinity extension
    if isinstance(value, torch.Tensor):
        key = path or "/"
        if key in tensors:  # only if a dict key itself holds "/": keep both, under distinct names
            key = f"{key}#{len(tensors)}"
        tensors[key] = value.detach().cpu().contiguous()
        return {_TENSOR: key}
    if isinstance(value, (np.ndarray, np.generic)):  # small ones only (numpy's RNG state): kept in the JSON
        array = np.asarray(value)
        return {
            _ARRAY: array.tolist(),
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "scalar": isinstance(value, np.generic),
        }
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v, f"{path}/{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{path}/{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _encode(v, f"{path}/{k}", tensors) for k, v in value.items()}
        return {
            _DICT: [[_encode(k, f"{path}/key", tensors), _encode(v, f"{path}/{k}", tensors)] for k, v in value.items()]
        }
    raise TypeError(
        f"cannot store a {type(value).__name__} at '{path or '/'}' in a checkpoint without pickle: "
        f"have its state_dict return tensors, numbers, strings, lists, tuples or dicts"
    )


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if _TENSOR in value:
        return tensors.pop(value[_TENSOR])
    if _ARRAY in value:
        array = np.array(value[_ARRAY], dtype=np.dtype(value["dtype"])).reshape(value["shape"])
        return array[()] if value["scalar"] else array
    if _TUPLE in value:
        return tuple(_decode(v, tensors) for v in value[_TUPLE])
    if _DICT in value:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in value[_DICT]}
    return {k: _decode(v, tensors) for k, v in value.items()}
