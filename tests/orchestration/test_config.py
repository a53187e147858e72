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


def test_seeds_follow_the_run_seed_unless_set():
    cfg = load_config(None, ["--loop.seed", "3"])
    assert (cfg.grpo.seed, cfg.rm.train.seed, cfg.rm.train.trainer_config().seed) == (3, 3, 3)
    assert (load_config(None, []).grpo.seed, load_config(None, []).rm.train.seed) == (0, 0)
    cfg = load_config(None, ["--loop.seed", "3", "--grpo.seed", "5", "--rm.train.seed", "7"])
    assert (cfg.grpo.seed, cfg.rm.train.seed) == (5, 7)
    # A partly given section leaves its derived keys derived.
    cfg = load_config(None, ["--loop.seed", "4", "--grpo.lr", "1e-4", "--rm.train.epochs", "3"])
    assert (cfg.grpo.seed, cfg.rm.train.seed, cfg.grpo.lr, cfg.rm.train.epochs) == (4, 4, 1e-4, 3)


def test_grpo_temperature_and_total_steps_are_derived():
    cfg = load_config(None, ["--sampling.temperature", "0.9"])
    assert cfg.grpo.temperature == 0.9
    assert load_config(None, ["--sampling.temperature", "0.9", "--grpo.temperature", "0.9"]) == cfg
    # 24 policy steps x 2 passes x (4 prompts x 8 completions / 8 per mini-batch) optimizer steps.
    cfg = load_config(
        None, ["--grpo.num_iterations", "2", "--grpo.mini_batch_size", "8", "--grpo.lr_schedule", "cosine"]
    )
    assert cfg.grpo.total_steps == 24 * 2 * 4
    assert load_config(None, ["--loop.max_steps", "10"]).grpo.total_steps == 10  # whole batch: one step a pass
    assert load_config(None, ["--grpo.total_steps", "7"]).grpo.total_steps == 7


def test_the_loop_has_no_inert_rm_train_keys():
    """A standalone fit's validation split, early stopping and bar do nothing in the loop: not keys there."""
    from orchestration.config import LOOP_FIXED_RM_TRAIN

    for key in LOOP_FIXED_RM_TRAIN:
        with pytest.raises(ConfigError, match=f"unknown config key 'rm.train.{key}'"):
            load_config(None, [f"--rm.train.{key}", "0"])
    trainer = load_config(None, ["--rm.train.epochs", "3"]).rm.train.trainer_config()
    assert (trainer.val_fraction, trainer.early_stop_patience, trainer.progress_bar, trainer.epochs) == (
        0.0,
        0,
        False,
        3,
    )


def test_resolved_config_reloads_to_itself(tmp_path):
    from orchestration.dataclass_yaml import dump_yaml

    cfg = load_config(None, ["--loop.seed", "2", "--sampling.temperature", "0.8", "--grpo.lr_schedule", "linear"])
    dump_yaml(cfg, str(tmp_path / "config.yaml"))
    assert load_config(str(tmp_path / "config.yaml"), []) == cfg


def test_command_line_overrides_win_over_the_file():
    cfg = load_config(os.path.join(REPO, "configs", "humaneval.yaml"), ["--loop.group_size", "4"])
    assert cfg.loop.group_size == 4 and cfg.data.source == "humaneval"


def test_cross_component_invariants_name_the_keys():
    with pytest.raises(ConfigError, match=r"loop.prompts_per_step \* loop.group_size = 9 .* grpo.mini_batch_size = 4"):
        load_config(
            None,
            [
                "--loop.prompts_per_step",
                "3",
                "--loop.group_size",
                "3",
                "--grpo.mini_batch_size",
                "4",
                "--grpo.micro_batch_size",
                "4",
            ],
        )
    with pytest.raises(ConfigError, match="rm: replay_fraction must be in"):
        load_config(None, ["--rm.replay_fraction", "1.5"])
