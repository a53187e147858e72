"""Our online GRPO loop against TRL's `GRPOTrainer`, same machine, same run: seconds per step and peak RSS.

Both sides train the embedded SmolLM2-135M-Instruct (float32, CPU) on the same built-in arithmetic prompts
(level 1, chat format as a user message): 4 prompts x 8 completions, 64 new tokens, temperature 0.7, beta 0.04,
lr 1e-5, one optimizer step per batch. TRL rewards with `verifiers.math.check_batch` (the rule verifier);
ours rewards with the online reward model, so our step also pays for RM scoring and, every 2nd step, an RM
update (amortised in the mean). Both sides run with the same gradient checkpointing setting; by default
the benchmark runs both settings, off (our default) and on (TRL's GRPOConfig default), and reports each
pair. TRL keeps its own defaults otherwise.
Target (the issue): ours/TRL <= 0.5 for both seconds/step and peak RSS.

LoRA (`--runs` with `ours_lora`, `trl_lora`): our loop with `policy.lora` and TRL's `GRPOTrainer` with the
same `peft_config` (`policy.lora.LoraConfig(r=--lora-r, alpha=--lora-alpha).to_peft()`: attention q/k/v/o,
no dropout), both at the same lr as the full runs; each side's reference is its own model with the adapters
disabled. Reported: ours_lora against TRL's full fine-tune (target: peak RSS <= 0.25x) and against
trl_lora (same peft_config; no target). All runs of one invocation share the machine state and settings.

Each side runs in its own child process, one after the other (never both at once). Peak RSS is the child's
`ru_maxrss` from `os.wait4`, which is per child (and its reaped helpers), not a max over earlier children.
Seconds per step:
- ours: `timing/step` from the run's metrics.jsonl = generation + verification + RM scoring + RM update +
  policy update (evaluation, logging and checkpointing excluded);
- TRL: `on_step_begin` -> `on_step_end` of a TrainerCallback = generation + rewards + log-probs + backward
  + optimizer step (logging and saving excluded).
The first `--warmup` steps of each side are dropped. Our default of 5 steps leaves steps 2-5, which hold
exactly two RM updates (update_every=2), so the mean amortises them at their configured rate. Both sides
are measured over the same steps: at lr 1e-5 both policies learn to answer tersely within a few steps,
so later steps are cheaper on both sides.

Needs TRL (the `bench` extra): `pip install trl==1.16.0`.

    python benchmarks/bench_vs_trl.py                          # both settings, ~11 min on 2 CPU cores
    python benchmarks/bench_vs_trl.py --gradient-checkpointing false --json results.json
    python benchmarks/bench_vs_trl.py --our-steps 9 --trl-steps 9
    python benchmarks/bench_vs_trl.py --runs ours,trl,ours_lora,trl_lora --json lora.json   # LoRA beside full
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: import the project
    sys.path.insert(0, str(ROOT))

TARGET = 0.5  # the issue: ours must be at most half of TRL on each measure
EVAL_FRACTION = 0.3  # DataConfig.eval_fraction: the train split our loop draws its prompts from
RUNS = ("ours", "trl", "ours_lora", "trl_lora")  # the order they run in
# (run, against, {measure: target ratio}); a comparison is reported when both runs were made.
COMPARISONS = [
    ("ours", "trl", {"seconds/step": TARGET, "peak RSS GiB": TARGET}),
    ("ours_lora", "trl", {"peak RSS GiB": 0.25}),  # the issue: LoRA at most a quarter of TRL's full fine-tune
    ("ours_lora", "trl_lora", {}),  # the same peft_config on both sides
]


def run_child(cmd: list[str], log_path: Path) -> tuple[int, int, float]:
    """Run `cmd` to completion; return (exit status, peak RSS in bytes, wall seconds)."""
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, unlike RUSAGE_CHILDREN
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss * 1024, time.perf_counter() - start  # Linux: KiB


def measured(seconds: list[float], warmup: int) -> list[float]:
    if len(seconds) <= warmup:
        raise SystemExit(f"only {len(seconds)} steps recorded; run more than --warmup {warmup} steps")
    return seconds[warmup:]


# ---------------------------------------------------------------------------------------------- ours


def lora_config(args: argparse.Namespace):
    """Our LoRA settings; `.to_peft()` is the peft_config TRL gets, so both sides adapt the same layers."""
    from policy.lora import LoraConfig

    return LoraConfig(r=args.lora_r, alpha=args.lora_alpha)


def run_ours(args: argparse.Namespace, workdir: Path, checkpointing: bool, lora: bool = False) -> dict:
    out = workdir / f"ours{'_lora' if lora else ''}_gc_{str(checkpointing).lower()}"
    lora_args = ["--policy.lora", json.dumps(dataclasses.asdict(lora_config(args)))] if lora else []
    cmd = [
        sys.executable,
        "orchestration/train_loop.py",
        "--output-dir",
        str(out),
        "--max-steps",
        str(args.our_steps),
        "--seed",
        "0",
        "--loop.prompts_per_step",
        str(args.prompts),
        "--loop.group_size",
        str(args.group_size),
        "--sampling.max_new_tokens",
        str(args.max_new_tokens),
        "--grpo.beta",
        "0.04",
        # evaluation runs at step 0 and at the last step only; one prompt, one sample keeps it negligible
        "--loop.eval_every",
        "1000",
        "--data.eval_size",
        "1",
        "--data.eval_samples",
        "1",
        "--loop.checkpoint_every",
        "1000",
        "--logging.progress_bar",
        "false",
        "--grpo.gradient_checkpointing",
        str(checkpointing).lower(),
        *lora_args,
    ]
    log = out.with_suffix(".log")
    status, rss, wall = run_child(cmd, log)
    if status != 0:
        raise SystemExit(f"our loop failed (exit {status}); see {log}")
    rows = [json.loads(line) for line in open(out / "metrics.jsonl")]
    kept = rows[args.warmup :]
    parts = ("generate", "verify", "rm_score", "rm_update", "policy_update")
    breakdown = {p: statistics.mean(r.get(f"timing/{p}", 0.0) for r in kept) for p in parts}
    return {
        "step_seconds": [r["timing/step"] for r in rows],
        "peak_rss": rss,
        "wall": wall,
        "rm_updates_measured": sum(bool(r.get("rm/updated")) for r in kept),
        "breakdown": ", ".join(f"{k} {v:.2f}" for k, v in breakdown.items()),
    }


# ---------------------------------------------------------------------------------------------- TRL


@contextlib.contextmanager
def bench_workdir(path: str | None, prefix: str):
    """`path` (created if missing, kept afterwards), else a temporary directory removed on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        workdir = Path(path or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir


def require_trl(peft: bool = False) -> None:
    import importlib.util

    if importlib.util.find_spec("trl") is None or peft and importlib.util.find_spec("peft") is None:
        raise SystemExit('this benchmark needs TRL (and peft for the LoRA runs): pip install -e ".[bench]"')


def trl_dataset(items):
    """Task items as TRL's conversational prompts, the gold answer riding along as a column."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": [{"role": "user", "content": it.prompt}], "gold": it.gold} for it in items])


def verified(completions, gold, **_):
    """TRL reward function: the rule verifier's score (TRL passes extra dataset columns as keywords)."""
    from verifiers.math import check_batch

    return [o.score for o in check_batch([c[0]["content"] for c in completions], gold)]


def trl_worker(args: argparse.Namespace) -> None:
    """Runs inside the TRL child process: train `--trl-steps` steps, write step timings to `--trl-worker`."""
    import torch
    from trl import GRPOConfig, GRPOTrainer

    from orchestration.arithmetic import ArithmeticTasks
    from policy.model import cached_gguf_checkpoint, embedded_gguf_path

    items = ArithmeticTasks(1, "train", seed=0, held_out_fraction=EVAL_FRACTION).take(args.prompts * args.trl_steps)
    dataset = trl_dataset(items)

    rollouts = args.prompts * args.group_size
    config = GRPOConfig(
        output_dir=str(Path(args.trl_worker).parent / "trl"),
        max_steps=args.trl_steps,
        seed=0,
        per_device_train_batch_size=rollouts,  # counts completions: 4 prompts x 8
        gradient_accumulation_steps=1,
        steps_per_generation=1,  # one generation, one optimizer step per batch
        num_generations=args.group_size,
        max_completion_length=args.max_new_tokens,
        temperature=0.7,
        beta=0.04,
        learning_rate=1e-5,
        lr_scheduler_type="constant",
        num_iterations=1,
        loss_type="grpo",
        disable_dropout=True,
        shuffle_dataset=False,  # as ours: seq-mean loss, same prompt order
        gradient_checkpointing=args.trl_gradient_checkpointing,  # TRL's GRPOConfig default: on
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
    trainer = GRPOTrainer(
        model=str(cached_gguf_checkpoint(embedded_gguf_path())),
        reward_funcs=verified,
        args=config,
        train_dataset=dataset,
        peft_config=lora_config(args).to_peft() if args.trl_lora else None,
    )
    generate_seconds = _time_generate(trainer.model)
    clock = _step_clock_class()(generate_seconds)
    trainer.add_callback(clock)
    trainer.train()
    Path(args.trl_worker).write_text(
        json.dumps(
            {"step_seconds": clock.seconds, "generate_seconds": clock.generate, "logs": trainer.state.log_history}
        )
    )


def _time_generate(model) -> list[float]:
    """Wrap `model.generate` so each step's generation time can be told apart from the update."""
    spent = [0.0]
    inner = model.generate

    def generate(*a, **kw):
        start = time.perf_counter()
        try:
            return inner(*a, **kw)
        finally:
            spent[0] += time.perf_counter() - start

    model.generate = generate
    return spent


def _step_clock_class():
    """Built on demand: transformers is imported only in the child processes."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self, generate_seconds: list[float]):
            self.seconds, self.generate, self._spent, self._start = [], [], generate_seconds, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._start, self._spent[0] = time.perf_counter(), 0.0

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self._start)
            self.generate.append(self._spent[0])

    return StepClock


def run_trl(args: argparse.Namespace, workdir: Path, checkpointing: bool, lora: bool = False) -> dict:
    name = f"trl{'_lora' if lora else ''}_gc_{str(checkpointing).lower()}"
    result_path = workdir / f"{name}.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--trl-worker",
        str(result_path),
        "--trl-steps",
        str(args.trl_steps),
        "--prompts",
        str(args.prompts),
        "--group-size",
        str(args.group_size),
        "--max-new-tokens",
        str(args.max_new_tokens),
        "--lora-r",
        str(args.lora_r),
        "--lora-alpha",
        str(args.lora_alpha),
        "--trl-gradient-checkpointing",
        str(checkpointing).lower(),
        *(["--trl-lora"] if lora else []),
    ]
    status, rss, wall = run_child(cmd, workdir / f"{name}.log")
    if status != 0:
        raise SystemExit(f"TRL failed (exit {status}); see {workdir / name}.log")
    data = json.loads(result_path.read_text())
    gen = (
        statistics.mean(data["generate_seconds"][args.warmup :])
        if len(data["generate_seconds"]) > args.warmup
        else float("nan")
    )
    rest = (
        statistics.mean(data["step_seconds"][args.warmup :]) - gen
        if len(data["step_seconds"]) > args.warmup
        else float("nan")
    )
    return {
        "step_seconds": data["step_seconds"],
        "peak_rss": rss,
        "wall": wall,
        "breakdown": f"generate {gen:.2f}, rest {rest:.2f}",
    }


def run(name: str, args: argparse.Namespace, workdir: Path, checkpointing: bool) -> dict:
    """One of RUNS, in its own child process."""
    side = run_ours if name.startswith("ours") else run_trl
    return side(args, workdir, checkpointing, lora=name.endswith("_lora"))


# ---------------------------------------------------------------------------------------------- report


def report(runs: dict[str, dict], warmup: int) -> dict:
    """Each run's steps, then every comparison in COMPARISONS whose two runs were made: means over the steps
    after the warm-up, the ratio and, where the issue sets one, its target."""
    means = {}
    print(f"\nsteps measured: all but the first {warmup} (warm-up)")
    for name, data in runs.items():
        kept = measured(data["step_seconds"], warmup)
        means[name] = {"seconds/step": statistics.mean(kept), "peak RSS GiB": data["peak_rss"] / 2**30}
        updates = f", {data['rm_updates_measured']} measured steps with an RM update" if name.startswith("ours") else ""
        print(f"{name:<9} per step: " + ", ".join(f"{x:.1f}" for x in data["step_seconds"]) + f" s{updates}")
        print(f"{'':<9} breakdown (mean s/step): {data['breakdown']}; child wall time {data['wall']:.0f} s")
    result = {}
    for name, against, targets in COMPARISONS:
        if name not in runs or against not in runs:
            continue
        print(f"\n{'measure':<14} {name:>9} {against:>9} {'ratio':>9} {'target':>8} {'ok':>4}")
        for measure in ("seconds/step", "peak RSS GiB"):
            a, b = means[name][measure], means[against][measure]
            target = targets.get(measure)
            ok = None if target is None else a / b <= target
            result[f"{name}/{against}: {measure}"] = {name: a, against: b, "ratio": a / b, "target": target, "ok": ok}
            print(
                f"{measure:<14} {a:>9.2f} {b:>9.2f} {a / b:>9.3f} {'<= ' + str(target) if target else '-':>8} "
                f"{'-' if ok is None else 'yes' if ok else 'NO':>4}"
            )
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--our-steps", type=int, default=5, help="policy steps of our loop (warm-up included)")
    parser.add_argument(
        "--trl-steps",
        type=int,
        default=5,
        help="GRPOTrainer steps (warm-up included); as many as ours: completions shorten as both learn",
    )
    parser.add_argument("--warmup", type=int, default=1, help="first steps of each side left out of the mean")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step")
    parser.add_argument("--group-size", type=int, default=8, help="completions per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument(
        "--gradient-checkpointing",
        choices=("both", "false", "true"),
        default="both",
        help="activation recompute on both sides: off (our default), on (TRL's default), or both runs",
    )
    parser.add_argument(
        "--runs",
        type=_runs,
        default=["ours", "trl"],
        help=f"comma-separated, of {', '.join(RUNS)}: full fine-tunes, and LoRA with the same "
        "peft_config on both sides",
    )
    parser.add_argument("--lora-r", type=int, default=16, help="LoRA rank of the *_lora runs")
    parser.add_argument("--lora-alpha", type=float, default=32.0, help="LoRA alpha of the *_lora runs")
    parser.add_argument("--trl-lora", action="store_true", help=argparse.SUPPRESS)  # worker
    parser.add_argument("--trl-gradient-checkpointing", type=_bool, default=True, help=argparse.SUPPRESS)  # worker
    parser.add_argument("--workdir", help="keep run directories and logs here (default: a temporary directory)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--trl-worker", help=argparse.SUPPRESS)  # internal: the TRL child process
    return parser.parse_args(argv)


def _runs(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in RUNS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown run(s) {unknown}; choose from {', '.join(RUNS)}")
    return [name for name in RUNS if name in names]


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() == "true"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.trl_worker:
        trl_worker(args)
        return
    require_trl(peft=any(name.endswith("_lora") for name in args.runs))
    settings = {"both": (False, True), "false": (False,), "true": (True,)}[args.gradient_checkpointing]
    results = {}
    with bench_workdir(args.workdir, "bench_vs_trl_") as workdir:
        for checkpointing in settings:
            print(f"\n=== gradient checkpointing {'on' if checkpointing else 'off'} (every run)", flush=True)
            runs = {}
            for name in args.runs:
                print(f"{name}: {args.our_steps if name.startswith('ours') else args.trl_steps} steps ...", flush=True)
                runs[name] = run(name, args, workdir, checkpointing)
            results[f"gradient_checkpointing={str(checkpointing).lower()}"] = {
                **runs,
                "result": report(runs, args.warmup),
            }
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
