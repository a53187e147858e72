"""Train a reward model on verifier-labelled outcomes: the CLI, and the public training API.

    python -m reward_model.train --data outcomes.jsonl --output rm_dir
    python -m reward_model.train --data outcomes.jsonl --output rm_dir --encoder bert-base-uncased \\
        --loss bradley_terry --epochs 3 --lr-encoder 2e-5
    python -m reward_model.train --data new.jsonl --init-from rm_dir --replay-data old.jsonl --output rm_dir2
    accelerate launch -m reward_model.train --data outcomes.jsonl --output rm_dir     # data-parallel
    python -m reward_model.train --level step --data run/outcomes.jsonl --output prm_dir  # a step-level RM
    python -m reward_model.train --encoder policy --trainable-layers 4 --data outcomes.jsonl --output lm_rm_dir
    python -m reward_model.train --encoder policy --lora-r 16 --lr-encoder 2e-4 --data outcomes.jsonl --output lora_rm
    python -m reward_model.train --reference --data run/outcomes.jsonl --output ref_rm   # reads the gold answer too

DATA is JSONL or a `datasets.save_to_disk` directory of `{prompt, response, outcome[, group]}` rows; every row
is validated before a model is loaded. With `--level step` (process supervision, `StepRewardModel`) the rows
carry step labels: `{prompt, response, steps: [[start, end, label], ...]}` (what a process-supervised loop
writes to its outcomes.jsonl) or `{prompt, steps: ["text", ...], labels: [1, 0, null, ...]}`; only bce. With
`--reference` the RM is reference-aware (reward_model.model: it reads `Reference answer: GOLD` before the prompt)
and every row needs its `reference` (the loop's outcomes.jsonl has it); an `--init-from` RM keeps its own setting.
Every `RMTrainConfig` field is a flag (`--help` lists them). DIR gets
the model (`ScalarRewardModel.from_pretrained(DIR)`), `train_config.json` and `train_metrics.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import typing

from reward_model.data import DataError, load_records, load_step_records
from reward_model.model import POOLINGS, ScalarRewardModel, saved_reference
from reward_model.step_model import AGGREGATES, StepRewardModel
from reward_model.trainer import RMTrainConfig, RMTrainer, StepRMTrainer, train

__all__ = ["RMTrainConfig", "RMTrainer", "StepRMTrainer", "train", "main"]


def _add_config_flags(parser: argparse.ArgumentParser, cls) -> None:
    """One `--field-name` flag per dataclass field, typed from its annotation, with the field's help."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, flag = hints[f.name], "--" + f.name.replace("_", "-")
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        help_text = f.metadata.get("help", "")
        if typing.get_origin(tp) is typing.Literal:
            parser.add_argument(flag, choices=args, default=f.default, help=help_text)
        elif tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=help_text)
        else:
            parser.add_argument(flag, type=args[0] if args else tp, default=f.default, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reward_model.train",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", required=True, help="JSONL file or datasets directory of {prompt, response, outcome}")
    parser.add_argument("--output", required=True, help="directory to save the trained reward model in")
    parser.add_argument(
        "--encoder",
        default=None,
        help="backbone: a BERT-style encoder or a causal LM, HF name or path; 'policy' = the "
        "embedded SmolLM2 policy's own base model (or --policy); default: embedded MiniLM",
    )
    parser.add_argument("--policy", default=None, help="with --encoder policy: the policy checkpoint to build on")
    parser.add_argument(
        "--pooling",
        choices=POOLINGS,
        default=None,
        help="pooling for a fresh RM; default: cls for an encoder, last for a causal LM",
    )
    parser.add_argument("--max-length", type=int, default=256, help="input tokens for a fresh RM")
    parser.add_argument(
        "--level",
        choices=("outcome", "step"),
        default="outcome",
        help="outcome: one score per response | step: one per reasoning step (process supervision)",
    )
    parser.add_argument(
        "--aggregate",
        choices=AGGREGATES,
        default="min",
        help="a fresh step RM's outcome-level score: min or product over its steps",
    )
    parser.add_argument(
        "--lora-r",
        type=int,
        default=None,
        help="a fresh RM trains LoRA adapters of this rank (and its head), its backbone frozen; "
        "needs peft. The adapters learn at --lr-encoder",
    )
    parser.add_argument("--lora-alpha", type=float, default=None, help="LoRA scaling numerator; default 2 * rank")
    parser.add_argument(
        "--lora-target-modules",
        nargs="+",
        default=["all-linear"],
        help="the backbone's linear layers that get adapters; all-linear = every one",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="a reference-aware RM: it reads each row's gold answer ('reference') beside the response",
    )
    parser.add_argument("--init-from", default=None, help="continue training this saved RM instead of a fresh one")
    parser.add_argument("--replay-data", default=None, help="older records to replay a sample of (train only)")
    parser.add_argument("--replay-fraction", type=float, default=0.1, help="share of --replay-data replayed")
    _add_config_flags(parser, RMTrainConfig)
    return parser


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = build_parser().parse_args(argv)
    if args.init_from and (args.encoder or args.lora_r is not None):
        raise SystemExit(
            "error: --init-from excludes --encoder and --lora-r: a saved RM already has its backbone and its adapters"
        )
    try:
        cfg = RMTrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RMTrainConfig)})
        step = args.level == "step"
        if step and cfg.loss != "bce":
            raise ValueError(f"--level step trains with --loss bce (a logit per step), got {cfg.loss}")
        load = load_step_records if step else load_records
        reference = args.reference or (args.init_from is not None and saved_reference(args.init_from))
        records = load(args.data, reference=reference)  # a malformed row stops the run here, before any model loads
        replay = None
        if args.replay_data:
            old = load(args.replay_data, reference=reference)
            replay = random.Random(cfg.seed).sample(old, round(args.replay_fraction * len(old)))
        model_cls = StepRewardModel if step else ScalarRewardModel
        if args.init_from:
            model = model_cls.from_pretrained(args.init_from)
            if model.level != args.level:
                raise ValueError(
                    f"--init-from {args.init_from} is a {model.level}-level RM but --level is {args.level}"
                )
            if args.reference and not model.reference:
                raise ValueError(
                    f"--reference, but --init-from {args.init_from} is a reference-free RM (its "
                    "reward_model.json has reference false); drop --reference or start a fresh RM"
                )
        else:
            extra = (
                {"aggregate": args.aggregate, "reference": args.reference} if step else {"reference": args.reference}
            )
            if args.lora_r is not None:
                extra["lora"] = {
                    "r": args.lora_r,
                    "alpha": args.lora_alpha or 2.0 * args.lora_r,
                    "target_modules": args.lora_target_modules,
                }
            model = model_cls.from_encoder(
                args.encoder,
                pooling=args.pooling,
                max_length=args.max_length,
                seed=cfg.seed,
                policy=args.policy,
                **extra,
            )
        trainer = (StepRMTrainer if step else RMTrainer)(model, cfg)
    except (DataError, ValueError) as e:
        raise SystemExit(f"error: {e}") from e
    metrics = trainer.fit(records, replay=replay)
    if trainer.accelerator.is_main_process:
        trainer.accelerator.unwrap_model(model).save_pretrained(args.output)
        with open(os.path.join(args.output, "train_config.json"), "w", encoding="utf-8") as f:
            json.dump({**vars(args), **dataclasses.asdict(cfg)}, f, indent=2)
        with open(os.path.join(args.output, "train_metrics.json"), "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2)
        print(json.dumps(metrics))
    trainer.accelerator.wait_for_everyone()  # no process exits while the main one still writes
    trainer.accelerator.end_training()
    return metrics


if __name__ == "__main__":
    main()
