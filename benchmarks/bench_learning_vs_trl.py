"""Learning at an equal time budget: our default online run against TRL's `GRPOTrainer`, same machine.

1. Ours: `orchestration/train_loop.py` with its defaults (the embedded SmolLM2, the online MiniLM reward
   model, built-in level-1 arithmetic), plus any config overrides given on the command line, once per
   `--reward-sources` entry (default: `rm`, the paper's online reward model, then `verifier`, the same
   reward TRL gets). Each run's training time is the sum of its `timing/step` (sampling, verification, RM
   scoring and updates, policy updates; evaluation, logging and checkpoints excluded); the longest of
   them is the budget, so TRL gets at least as much time as any of ours.
2. TRL: `GRPOTrainer` on the same policy, the same training prompts in the same order, the same
   prompts x completions per step, new tokens, temperature, top-p, lr, beta and one optimizer step per
   batch, rewarded by the rule verifier (`verifiers.math.check_batch`, TRL's usual set-up: it has no
   online reward model). It trains until its step time (on_step_begin -> on_step_end) reaches the
   budget. Gradient checkpointing is off, TRL's faster setting on this machine.
3. Both final policies are evaluated by the same code (`OnlineTrainer.evaluate`: greedy and sampled
   verified accuracy on the held-out prompts, the same sampling seeds), next to the base policy's.

Each side runs in its own child process, one after the other. Needs TRL (the `bench` extra).

    python benchmarks/bench_learning_vs_trl.py                      # ~15 min on 2 CPU cores
    python benchmarks/bench_learning_vs_trl.py --loop.max_steps 40 --json learning.json   # any train_loop override
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: import the project
    sys.path.insert(0, str(ROOT))

from bench_vs_trl import bench_workdir, require_trl, trl_dataset, verified  # noqa: E402  (this script's own folder)


def run(cmd: list[str], log: Path) -> None:
    with open(log, "w") as f:
        status = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT).returncode
    if status != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed (exit {status}); see {log}")


def run_ours(workdir: Path, overrides: list[str], reward_source: str) -> dict:
    out = workdir / f"ours_{reward_source}"
    run(
        [
            sys.executable,
            "orchestration/train_loop.py",
            "--output-dir",
            str(out),
            "--logging.progress_bar",
            "false",
            *overrides,
            "--loop.reward_source",
            reward_source,
        ],
        out.with_suffix(".log"),
    )
    rows = [json.loads(line) for line in open(out / "metrics.jsonl")]
    return {
        "budget_s": sum(r["timing/step"] for r in rows),
        "steps": rows[-1]["step"],
        "before": {k: rows[0][f"eval/initial_{k}_accuracy"] for k in ("greedy", "sampled")},
        "after": {k: rows[-1][f"eval/{k}_accuracy"] for k in ("greedy", "sampled")},
        "config": str(out / "config.yaml"),
    }


def trl_worker(args: argparse.Namespace) -> None:
    """Inside the TRL child: train until the budget is spent, save, evaluate with our evaluation."""
    import torch
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from orchestration.config import load_config
    from orchestration.data_sources import build_sources
    from orchestration.online import OnlineTrainer
    from policy.model import cached_gguf_checkpoint, embedded_gguf_path

    cfg = load_config(args.config, [])
    policy = cfg.policy.name_or_path or str(cached_gguf_checkpoint(embedded_gguf_path()))
    train_source, _ = build_sources(cfg.data, cfg.loop.seed)  # our run's split and order
    prompts = cfg.loop.prompts_per_step
    items = [train_source.item(i) for i in range(prompts * args.max_trl_steps)]
    dataset = trl_dataset(items)

    class Budget(TrainerCallback):
        def __init__(self):
            self.spent, self.steps, self._start = 0.0, 0, 0.0

        def on_step_begin(self, args_, state, control, **kwargs):
            self._start = time.perf_counter()

        def on_step_end(self, args_, state, control, **kwargs):
            self.spent += time.perf_counter() - self._start
            self.steps += 1
            control.should_training_stop = self.spent >= args.budget_s

    out_dir = Path(args.trl_worker).parent / "trl"
    config = GRPOConfig(
        output_dir=str(out_dir),
        max_steps=args.max_trl_steps,
        seed=cfg.loop.seed,
        per_device_train_batch_size=prompts * cfg.loop.group_size,
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        num_generations=cfg.loop.group_size,
        max_completion_length=cfg.sampling.max_new_tokens,
        temperature=cfg.sampling.temperature,
        top_p=cfg.sampling.top_p,
        beta=cfg.grpo.beta,
        learning_rate=cfg.grpo.lr,
        lr_scheduler_type="constant",
        num_iterations=1,
        loss_type="grpo",
        disable_dropout=True,
        shuffle_dataset=False,
        gradient_checkpointing=False,
        use_vllm=False,
        use_cpu=True,
        bf16=False,
        fp16=False,
        model_init_kwargs={"dtype": torch.float32},
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        dataloader_num_workers=0,
    )
    budget = Budget()
    trainer = GRPOTrainer(model=policy, reward_funcs=verified, args=config, train_dataset=dataset, callbacks=[budget])
    trainer.train()
    trainer.save_model(str(out_dir / "final"))
    trainer.processing_class.save_pretrained(str(out_dir / "final"))
    del trainer

    cfg.policy.name_or_path = str(out_dir / "final")
    final = OnlineTrainer(cfg, str(Path(args.trl_worker).parent / "trl_eval"))
    final.state.step = args.eval_step  # the sampling seeds our final evaluation used
    accuracy = final.evaluate()
    Path(args.trl_worker).write_text(
        json.dumps(
            {
                "steps": budget.steps,
                "spent_s": budget.spent,
                "after": {k: accuracy[f"eval/{k}_accuracy"] for k in ("greedy", "sampled")},
            }
        )
    )


def run_trl(workdir: Path, ours: dict, max_trl_steps: int) -> dict:
    result = workdir / "trl_result.json"
    run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--trl-worker",
            str(result),
            "--config",
            ours["config"],
            "--budget-s",
            str(ours["budget_s"]),
            "--eval-step",
            str(ours["steps"]),
            "--max-trl-steps",
            str(max_trl_steps),
        ],
        workdir / "trl.log",
    )
    return json.loads(result.read_text())


def report(ours: dict[str, dict], trl: dict) -> None:
    first = next(iter(ours.values()))
    budget = max(result["budget_s"] for result in ours.values())
    print(f"\nTRL's budget: {budget:.0f} s of training (the longest of ours); held-out verified accuracy")
    print(f"{'run':<34} {'steps':>5} {'train s':>8} {'greedy':>8} {'sampled':>8}")
    print(f"{'base policy':<34} {'':>5} {'':>8} {first['before']['greedy']:>8.3f} {first['before']['sampled']:>8.3f}")
    rows = [(f"ours, reward_source={source}", result) for source, result in ours.items()]
    rows.append(("TRL GRPOTrainer (verifier reward)", {**trl, "budget_s": trl["spent_s"]}))
    for name, result in rows:
        print(
            f"{name:<34} {result['steps']:>5} {result['budget_s']:>8.0f} {result['after']['greedy']:>8.3f} "
            f"{result['after']['sampled']:>8.3f}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--reward-sources",
        nargs="+",
        default=["rm", "verifier"],
        choices=("rm", "verifier", "mix"),
        help="our runs; the longest sets TRL's time budget",
    )
    parser.add_argument("--max-trl-steps", type=int, default=500, help="upper bound on TRL's steps (its dataset size)")
    parser.add_argument("--workdir", help="keep run directories and logs here (default: a temporary directory)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    for internal in ("--trl-worker", "--config", "--budget-s", "--eval-step"):  # the TRL child process
        parser.add_argument(internal, help=argparse.SUPPRESS)
    # Anything else is a train_loop config override (--section.key VALUE) for our run; TRL reads the
    # settings it shares from our run's resolved config.yaml.
    args, args.overrides = parser.parse_known_args(argv)
    if args.budget_s is not None:
        args.budget_s, args.eval_step = float(args.budget_s), int(args.eval_step)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.trl_worker:
        trl_worker(args)
        return
    require_trl()
    with bench_workdir(args.workdir, "bench_learning_") as workdir:
        ours = {}
        for source in args.reward_sources:
            print(f"ours: the default online run, reward_source={source} ...", flush=True)
            ours[source] = run_ours(workdir, args.overrides, source)
        budget = max(ours.values(), key=lambda result: result["budget_s"])
        print(f"TRL: {budget['budget_s']:.0f} s of training ...", flush=True)
        trl = run_trl(workdir, budget, args.max_trl_steps)
        report(ours, trl)
    if args.json:
        Path(args.json).write_text(json.dumps({"ours": ours, "trl": trl}, indent=2))


if __name__ == "__main__":
    main()
