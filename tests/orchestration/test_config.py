import glob
import os

import pytest

from orchestration.config import TrainConfig, load_config
from orchestration.dataclass_yaml import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_cpu_default_yaml_is_the_default_config():
    assert load_config(os.path.join(REPO, "configs", "cpu_default.yaml"), []) == TrainConfig()


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "configs", "*.yaml"))))
def test_example_configs_are_valid(path):
    cfg = load_config(path, [])
    assert cfg.grpo.temperature == cfg.sampling.temperature
    if cfg.data.path:
        assert os.path.exists(os.path.join(REPO, cfg.data.path))


def test_command_line_overrides_win_over_the_file():
    cfg = load_config(os.path.join(REPO, "configs", "humaneval.yaml"), ["--loop.group_size", "4"])
    assert cfg.loop.group_size == 4 and cfg.data.source == "humaneval"


def test_cross_component_invariants_name_the_keys():
    with pytest.raises(ConfigError, match=r"loop.prompts_per_step \* loop.group_size = 9 .* grpo.mini_batch_size = 4"):
        load_config(None, ["--loop.prompts_per_step", "3", "--loop.group_size", "3", "--grpo.mini_batch_size", "4",
                           "--grpo.micro_batch_size", "4"])
    with pytest.raises(ConfigError, match="rm: replay_fraction must be in"):
        load_config(None, ["--rm.replay_fraction", "1.5"])
