"""Nested config dataclasses <-> YAML, with `--section.key value` command-line overrides.

Every component keeps its own `@dataclass` config (fields carry a one-line `metadata["help"]`); the run
config nests them. This module builds such a tree from plain dicts, coercing and checking types, so a typo
or a wrong type fails at once with the full dotted key and what was expected.

A field whose metadata says `"derived": True` defaults to None, "derive it from the rest", and its dataclass
fills it in (`__post_init__`), so the resolved config written to a run directory says what was used.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override is wrong; the message names the key and says what to change."""


def from_dict(cls: type[T], data: dict[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass `cls` from `data`, recursing into nested dataclass fields; unknown keys are errors."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, fields, n=1)
        hint = f"; did you mean '{prefix}{close[0]}'?" if close else f"; known keys: {sorted(fields)}"
        raise ConfigError(f"unknown config key '{prefix}{key}'{hint}")
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        factory = fields[name].default_factory
        if dataclasses.is_dataclass(hints[name]) and factory is not dataclasses.MISSING and isinstance(value, dict):
            # A partly given section keeps the parent's defaults for the rest (not the section class's own), except
            # derived fields: they go back to "unset" so they are derived anew from what was given.
            defaults = dataclasses.asdict(factory())
            defaults.update({f.name: f.default for f in dataclasses.fields(hints[name]) if f.metadata.get("derived")})
            data[name] = _merge(defaults, value)
    kwargs = {name: _coerce(hints[name], value, f"{prefix}{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {e}") from e


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, prefix=f"{key}.")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        alternatives = [a for a in args if a is not type(None)]
        if len(alternatives) == 1:  # Optional[X]: X's own error names the key (e.g. a nested section's field)
            return _coerce(alternatives[0], value, key)
        for arg in alternatives:
            try:
                return _coerce(arg, value, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: {value!r} matches none of {_type_name(tp)}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key}: must be one of {list(args)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        return origin(_coerce(item_type, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # PyYAML reads `1e-6` (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(tp, type) and not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `["--a.b", "value", "--c=1", ...]` onto a nested dict; values are parsed as YAML scalars."""
    data = _deep_copy(data)
    i = 0
    while i < len(overrides):
        token = overrides[i]
        if not token.startswith("--"):
            raise ConfigError(f"expected an override like --section.key VALUE, got {token!r}")
        if "=" in token:
            key, raw = token[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(overrides):
                raise ConfigError(f"override {token} has no value")
            key, raw = token[2:], overrides[i + 1]
            i += 2
        node = data
        *parents, leaf = key.replace("-", "_").split(".")
        for part in parents:
            if node.get(part) is None:  # absent, or an optional section switched off (`lora: null`)
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(f"override --{key}: {part!r} is not a section")
        node[leaf] = yaml.safe_load(raw) if raw != "" else ""
    return data


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}


def load_yaml(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError as e:
        raise ConfigError(f"config file {path} does not exist") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    return data


def dump_yaml(config: Any, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(to_dict(config), f, sort_keys=False)


def help_text(cls: type, prefix: str = "") -> list[str]:
    """One line per leaf field: `--section.key (default): help`, for `--help`."""
    lines = []
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            lines += help_text(tp, f"{prefix}{f.name}.")
            continue
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if f.default_factory is not dataclasses.MISSING else "required")
        )
        lines.append(f"  --{prefix}{f.name} ({default!r}): {f.metadata.get('help', '')}")
        optional_section = _optional_dataclass(tp)
        if optional_section is not None:  # an optional section (null = off): its keys too
            lines += help_text(optional_section, f"{prefix}{f.name}.")
    return lines


def _optional_dataclass(tp: Any) -> type | None:
    """X for `X | None` where X is a dataclass, else None."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    alternatives = [a for a in typing.get_args(tp) if a is not type(None)]
    return alternatives[0] if len(alternatives) == 1 and dataclasses.is_dataclass(alternatives[0]) else None
