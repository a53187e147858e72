"""The table of every config key, written from the config dataclasses themselves, so the docs cannot drift.

python -m orchestration.config_table > docs/config.md      # tests/orchestration/test_config_table.py checks it
"""

from __future__ import annotations

import dataclasses
import typing

from orchestration.config import TrainConfig
from orchestration.dataclass_yaml import _optional_dataclass

HEADER = """# Config keys

Every key of `orchestration/train_loop.py`'s config: set it in a YAML file (`--config FILE`) or on the command line
(`--section.key VALUE`). Written by `python -m orchestration.config_table > docs/config.md` from the config
dataclasses (a test keeps this page equal to that output). A default of `null` on a derived key means "worked out
from the rest of the config": the resolved value is in each run's `config.yaml`.
"""


def rows(cls: type = TrainConfig, prefix: str = "", instance=None) -> list[tuple[str, str, str]]:
    """(key, default, help) for every leaf field; defaults as the parent section sets them."""
    instance = instance if instance is not None else cls()
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        value = getattr(instance, f.name)
        if f.metadata.get("derived"):
            value = f.default  # unset: derived at load
        if dataclasses.is_dataclass(hints[f.name]):
            out += rows(hints[f.name], f"{prefix}{f.name}.", value)
            continue
        out.append((f"{prefix}{f.name}", _show(value), f.metadata.get("help", "")))
        section = _optional_dataclass(hints[f.name])
        if section is not None:  # an optional section (null = off): its keys, with their own defaults
            out += rows(section, f"{prefix}{f.name}.")
    return out


def _show(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value
    return str(value)


def markdown() -> str:
    lines = [HEADER, "| key | default | what it does |", "|---|---|---|"]
    for key, default, text in rows():
        text = text.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{key}` | `{default}` | {text} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
