"""Online GRPO with a reward model re-trained from verified outcomes: the main entry point.

    python orchestration/train_loop.py                      # embedded defaults, CPU, offline (~15 min)
    python orchestration/train_loop.py --config configs/cpu_default.yaml --output-dir runs/a \\
        [--max-steps N] [--seed S] [--section.key value ...]
    accelerate launch --num_processes 2 --cpu orchestration/train_loop.py --output-dir runs/dp ...

Re-running the same command on a directory that holds a checkpoint resumes from it. `--help` lists every
config key. The run directory gets config.yaml, metrics.jsonl, outcomes.jsonl (the outcome buffer),
samples.jsonl, checkpoints/ and final/{policy,rm}.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import the project, not this directory's modules
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from orchestration.config import TrainConfig, load_config  # noqa: E402
from orchestration.dataclass_yaml import ConfigError, dump_yaml, help_text, load_yaml, to_dict  # noqa: E402

DEFAULT_OUTPUT_DIR = "runs/default"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config keys (override with --section.key VALUE):\n" + "\n".join(help_text(TrainConfig)))
    parser.add_argument("--config", help="YAML config file (defaults: the embedded CPU setup)")
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR, help="run directory (resumed if it has a checkpoint)")
    parser.add_argument("--max-steps", type=int, help="shorthand for --loop.max_steps")
    parser.add_argument("--seed", type=int, help="shorthand for --loop.seed")
    args, overrides = parser.parse_known_args(argv)
    if args.max_steps is not None:
        overrides += ["--loop.max_steps", str(args.max_steps)]
    if args.seed is not None:
        overrides += ["--loop.seed", str(args.seed)]
    return args, overrides


def resolve_config(args: argparse.Namespace, overrides: list[str]) -> TrainConfig:
    cfg = load_config(args.config, overrides)
    saved = os.path.join(args.output_dir, "config.yaml")
    if os.path.exists(saved):
        previous = load_yaml(saved)
        previous.get("loop", {}).pop("max_steps", None)
        current = to_dict(cfg)
        current["loop"].pop("max_steps")
        if previous != current:
            print(f"warning: {saved} differs from this command's config; resuming with the new one")
    return cfg


def main(argv: list[str] | None = None) -> dict:
    args, overrides = parse_args(argv)
    try:
        cfg = resolve_config(args, overrides)  # every config error surfaces here, before any model loads
    except ConfigError as e:
        sys.exit(f"config error: {e}")
    if cfg.logging.tensorboard and importlib.util.find_spec("tensorboard") is None:
        sys.exit("config error: logging.tensorboard needs the tensorboard package: pip install tensorboard")
    import transformers
    from accelerate import Accelerator

    from orchestration.online import OnlineTrainer

    transformers.utils.logging.disable_progress_bar()  # one bar per model load would drown the loop's own

    accelerator = Accelerator(log_with="tensorboard" if cfg.logging.tensorboard else None,
                              project_dir=args.output_dir)
    if accelerator.is_main_process:
        os.makedirs(args.output_dir, exist_ok=True)
        dump_yaml(cfg, os.path.join(args.output_dir, "config.yaml"))
        print(f"run directory: {args.output_dir}\n{open(os.path.join(args.output_dir, 'config.yaml')).read()}")
    if cfg.logging.tensorboard:
        accelerator.init_trackers("tensorboard", config=_flat(to_dict(cfg)))
    trainer = OnlineTrainer(cfg, args.output_dir, accelerator)
    metrics = trainer.run()
    accelerator.end_training()
    import torch.distributed

    if torch.distributed.is_initialized():  # else gloo's threads can abort a process at interpreter exit
        torch.distributed.destroy_process_group()
    return metrics


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return out


if __name__ == "__main__":
    main()
