"""Online GRPO with a reward model re-trained from verified outcomes: the main entry point.

    python orchestration/train_loop.py                      # embedded defaults, CPU, offline (~8 min)
    python orchestration/train_loop.py --config configs/cpu_default.yaml --output-dir runs/a \\
        [--max-steps N] [--seed S] [--section.key value ...]
    accelerate launch --num_processes 2 --cpu orchestration/train_loop.py --output-dir runs/dp ...

Re-running the same command on a directory that holds a checkpoint resumes from it; logs of a run that stopped
before its first checkpoint are moved aside (DIR/incomplete-<time>/), never emptied. SIGTERM, SIGINT or SIGUSR1
stop the run after the step under way, with a checkpoint (orchestration/preemption.py; a second signal exits at
once). A second run started on a directory that a live run is using exits with a message (DIR/.lock).
`--help` lists every config key.
The run directory gets config.yaml, metrics.jsonl, outcomes.jsonl (the outcome buffer), samples.jsonl,
checkpoints/ and final/{policy,rm} (with policy.lora also final/policy_adapter).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import the project, not this directory's modules
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from orchestration.config import TRACKER_PACKAGES, TrainConfig, load_config  # noqa: E402
from orchestration.dataclass_yaml import ConfigError, dump_yaml, help_text, load_yaml, to_dict  # noqa: E402
from orchestration.run_lock import RunDirectoryInUse, hold_run_lock  # noqa: E402

DEFAULT_OUTPUT_DIR = "runs/default"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config keys (override with --section.key VALUE):\n" + "\n".join(help_text(TrainConfig)),
    )
    parser.add_argument("--config", help="YAML config file (defaults: the embedded CPU setup)")
    parser.add_argument(
        "--output-dir", default=DEFAULT_OUTPUT_DIR, help="run directory (resumed if it has a checkpoint)"
    )
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
        current = json.loads(json.dumps(to_dict(cfg)))  # as YAML gives it back: tuples become lists
        for config in (previous, current):  # an extended run: max_steps and what is derived from it may change
            config.get("loop", {}).pop("max_steps", None)
            config.get("grpo", {}).pop("total_steps", None)
        if previous != current:
            print(f"warning: {saved} differs from this command's config; resuming with the new one")
    return cfg


def main(argv: list[str] | None = None) -> dict:
    args, overrides = parse_args(argv)
    try:
        cfg = resolve_config(args, overrides)  # every config error surfaces here, before any model loads
    except ConfigError as e:
        sys.exit(f"config error: {e}")
    for key, value in (("policy.lora", cfg.policy.lora), ("rm.lora", cfg.rm.lora)):
        if value is not None and importlib.util.find_spec("peft") is None:
            sys.exit(f'config error: {key} needs peft: pip install -e ".[lora]" (or pip install peft)')
    for tracker in cfg.logging.report_to:
        if importlib.util.find_spec(TRACKER_PACKAGES[tracker]) is None:
            sys.exit(
                f"config error: logging.report_to names {tracker}, which needs its package: "
                f"pip install {TRACKER_PACKAGES[tracker].replace('_', '-')}"
            )
    import transformers
    from accelerate import Accelerator

    from orchestration.online import OnlineTrainer, check_distributed_type
    from orchestration.preemption import Preempted
    from orchestration.preflight import VerifierUnavailable
    from orchestration.run_state import CheckpointError

    transformers.utils.logging.disable_progress_bar()  # one bar per model load would drown the loop's own

    accelerator = Accelerator(log_with=cfg.logging.report_to or None, project_dir=args.output_dir)
    try:
        check_distributed_type(accelerator)  # before the run directory is written
    except ValueError as e:
        _end_distributed()
        sys.exit(f"stopped: {e}")
    with _sole_writer(accelerator, args.output_dir):  # before anything is written to the run directory
        if accelerator.is_main_process:
            dump_yaml(cfg, os.path.join(args.output_dir, "config.yaml"))
            print(f"run directory: {args.output_dir} (resolved config: {Path(args.output_dir, 'config.yaml')})")
            print(cfg.plan.describe())
        if cfg.logging.report_to:  # each tracker writes under the run directory (TensorBoard: DIR/online-rm-grpo)
            accelerator.init_trackers(
                "online-rm-grpo",
                config=_flat(to_dict(cfg)),
                init_kwargs={
                    "wandb": {"dir": args.output_dir, "name": os.path.basename(os.path.abspath(args.output_dir))}
                },
            )
        try:
            trainer = OnlineTrainer(cfg, args.output_dir, accelerator)
            metrics = trainer.run()
        except (VerifierUnavailable, CheckpointError) as e:  # stop with what went wrong and what to do
            _end_distributed()
            sys.exit(f"stopped: {e}")
        except Preempted as e:  # a stop signal: the last completed step is checkpointed
            accelerator.end_training()
            _end_distributed()
            if accelerator.is_main_process:
                print(str(e), file=sys.stderr, flush=True)
            sys.exit(e.exit_code)
        accelerator.end_training()
        if accelerator.is_main_process and metrics:  # `metrics` is empty when there was nothing left to do
            _finish(args.output_dir)
    _end_distributed()
    return metrics


@contextmanager
def _sole_writer(accelerator, run_dir: str):
    """Hold `run_dir`'s lock (main process: the one that writes files) for the run; if another run holds
    it, every process exits with a message naming the holder."""
    with ExitStack() as stack:
        problem = None
        if accelerator.is_main_process:
            try:
                stack.enter_context(hold_run_lock(run_dir))
            except RunDirectoryInUse as e:
                problem = str(e)
        if accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            problem = broadcast_object_list([problem])[0]
        if problem:
            _end_distributed()
            sys.exit(problem)
        yield


def _finish(run_dir: str) -> None:
    """Draw the run's plots and print its summary."""
    from orchestration.metrics import read_metrics
    from orchestration.plot import plot_run
    from orchestration.summary import run_summary

    try:
        plot_run(run_dir)
    except Exception as e:  # noqa: BLE001 - a plot must never cost the run its summary
        print(f"warning: could not draw the plots ({type(e).__name__}: {e}); python -m orchestration.plot {run_dir}")
    print(run_summary(read_metrics(os.path.join(run_dir, "metrics.jsonl")), run_dir))


def _end_distributed() -> None:
    import torch.distributed

    if torch.distributed.is_initialized():  # else gloo's threads can abort a process at interpreter exit
        torch.distributed.destroy_process_group()


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
