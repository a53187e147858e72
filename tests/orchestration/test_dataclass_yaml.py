from dataclasses import dataclass, field
from typing import Literal

import pytest

from orchestration.dataclass_yaml import ConfigError, apply_overrides, dump_yaml, from_dict, help_text, load_yaml


@dataclass
class Inner:
    lr: float = field(default=1e-3, metadata={"help": "learning rate"})
    levels: list[int] = field(default_factory=lambda: [1], metadata={"help": "levels"})
    mode: Literal["a", "b"] = field(default="a", metadata={"help": "mode"})
    path: str | None = field(default=None, metadata={"help": "optional path"})

    def __post_init__(self):
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}; set it to e.g. 1e-6")


@dataclass
class Outer:
    steps: int = field(default=10, metadata={"help": "steps"})
    inner: Inner = field(default_factory=Inner)
    tuned: Inner = field(default_factory=lambda: Inner(lr=0.5, mode="b"))


def test_nested_build_with_coercion():
    cfg = from_dict(Outer, {"steps": 3, "inner": {"lr": 1, "levels": [1, 2], "mode": "b", "path": 5}})
    assert cfg == Outer(steps=3, inner=Inner(lr=1.0, levels=[1, 2], mode="b", path="5"))
    # A partly given section keeps the parent's defaults (lr=0.5, mode=b), not Inner's own.
    assert from_dict(Outer, {"tuned": {"path": "p"}}).tuned == Inner(lr=0.5, mode="b", path="p")
    # YAML 1.1 reads `1e-6` (no dot) as a string; a float field still takes it.
    assert from_dict(Outer, apply_overrides({}, ["--inner.lr", "1e-6"])).inner.lr == 1e-6
    assert isinstance(cfg.inner.lr, float)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"stpes": 3}, r"unknown config key 'stpes'; did you mean 'steps'\?"),
        ({"inner": {"lrr": 1}}, r"unknown config key 'inner.lrr'; did you mean 'inner.lr'\?"),
        ({"steps": "many"}, r"steps: expected int, got 'many'"),
        ({"steps": True}, r"steps: expected int"),
        ({"inner": {"mode": "c"}}, r"inner.mode: must be one of \['a', 'b'\], got 'c'"),
        ({"inner": {"levels": [1, "x"]}}, r"inner.levels\[1\]: expected int"),
        ({"inner": {"lr": -1.0}}, r"inner: lr must be > 0, got -1.0; set it to e.g. 1e-6"),
        ({"inner": 3}, r"inner: expected a mapping"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_overrides_parse_yaml_scalars_and_round_trip(tmp_path):
    data = apply_overrides({"inner": {"lr": 0.1}}, ["--steps", "7", "--inner.levels=[2, 3]", "--inner.path", "null"])
    assert data == {"steps": 7, "inner": {"lr": 0.1, "levels": [2, 3], "path": None}}
    cfg = from_dict(Outer, data)
    dump_yaml(cfg, tmp_path / "c.yaml")
    assert from_dict(Outer, load_yaml(tmp_path / "c.yaml")) == cfg


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["steps", "1"], "expected an override like --section.key VALUE"),
        (["--steps"], "override --steps has no value"),
        (["--steps.x", "1"], "'steps' is not a section"),
    ],
)
def test_bad_overrides(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides({"steps": 1}, overrides)


def test_bad_yaml_file(tmp_path):
    (tmp_path / "c.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(str(tmp_path / "c.yaml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(str(tmp_path / "missing.yaml"))


def test_help_lists_every_leaf():
    lines = help_text(Outer)
    assert any(line.startswith("  --inner.lr (0.001): learning rate") for line in lines)
    assert len(lines) == 9


@dataclass
class WithOptional:
    extra: Inner | None = field(default=None, metadata={"help": "an optional section; null = off"})


def test_an_optional_section_is_off_by_null_and_on_by_any_of_its_keys():
    assert from_dict(WithOptional, {}).extra is None
    assert from_dict(WithOptional, apply_overrides({"extra": None}, ["--extra.mode", "b"])).extra == Inner(mode="b")
    # Its own error, naming its key, rather than "matches none of Inner | None".
    with pytest.raises(ConfigError, match=r"extra: lr must be > 0, got -1.0"):
        from_dict(WithOptional, {"extra": {"lr": -1}})
    with pytest.raises(ConfigError, match=r"unknown config key 'extra.lrr'"):
        from_dict(WithOptional, {"extra": {"lrr": 1}})
    lines = help_text(WithOptional)
    assert lines[0] == "  --extra (None): an optional section; null = off"
    assert "  --extra.lr (0.001): learning rate" in lines and len(lines) == 5
