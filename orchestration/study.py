"""The built-in study: one loop, several arms (reward sources and algorithms), several seeds, one held-out set.

    python -m orchestration.study --arms verifier rm frozen_rm mix online_rft rft --seeds 0 1 2 --output-dir runs/study
    python -m orchestration.study --output-dir runs/study --loop.max_steps 8     # any loop key overrides every run

Each (arm, seed) is a plain `orchestration/train_loop.py` run in `DIR/runs/ARM-seedS/` (its own process, so
one run's memory never reaches the next), on the same prompt stream and budget and evaluated on the same
held-out problems. A finished run is never re-run, and an interrupted one resumes from its checkpoint: re-run
the same command. Then `DIR/report.md`, `DIR/results.json` and `DIR/plots/*.png` are written
(`orchestration.study_report`). The held-out evaluation before training depends only on the seed, so it
runs once per seed, in the first arm run for it. Arms that start from a warm-started RM (`study_arms.WARM_STARTS`:
the scarce-label arms) share one per seed, run first by `orchestration.bootstrap` into `DIR/warm/NAME-seedS/`.

`--parallel N` runs N of them at once (each still its own process): for a GPU with room for several, or a
machine with cores to spare. The runs do not share anything but the read-only caches, so the results are the
same as one at a time on that machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import the project, not this directory's modules
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from orchestration.metrics import read_metrics  # noqa: E402
from orchestration.study_arms import (  # noqa: E402, F401
    ARM_WARM_START,
    ARMS,
    DEFAULTS,
    WARM_STARTS,
    data_overrides,
    is_finished,
    run_dir,
    warm_dir,
)

TRAIN_LOOP = str(Path(__file__).resolve().parent / "train_loop.py")
REPO = str(Path(__file__).resolve().parents[1])


def has_initial_eval(path: str) -> bool:
    metrics = os.path.join(path, "metrics.jsonl")
    return os.path.isfile(metrics) and any("eval/initial_greedy_accuracy" in row for row in read_metrics(metrics))


def command(output_dir: str, arm: str, seed: int, overrides: list[str], initial_eval: bool) -> list[str]:
    warm = ARM_WARM_START.get(arm)
    return [
        sys.executable,
        TRAIN_LOOP,
        "--output-dir",
        run_dir(output_dir, arm, seed),
        "--seed",
        str(seed),
        *DEFAULTS,
        *ARMS[arm][1],
        *(["--rm.init_from", os.path.join(warm_dir(output_dir, warm, seed), "rm")] if warm else []),
        "--loop.initial_eval",
        str(initial_eval).lower(),
        *overrides,
    ]


def warm_command(output_dir: str, name: str, seed: int, overrides: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestration.bootstrap",
        "--output-dir",
        warm_dir(output_dir, name, seed),
        "--seed",
        str(seed),
        *WARM_STARTS[name][0],
        *DEFAULTS,
        *WARM_STARTS[name][1],
        *overrides,
    ]


_WARM_LOCKS: dict[str, threading.Lock] = {}
_WARM_LOCKS_GUARD = threading.Lock()


def ensure_warm_start(output_dir: str, name: str, seed: int, overrides: list[str]) -> int:
    """Run the warm start `name` for `seed` unless its RM is saved (`DIR/warm/NAME-seedS/rm`); runs of several arms
    waiting on the same one wait for one bootstrap. Returns its exit code (0 when it was already there)."""
    path = warm_dir(output_dir, name, seed)
    with _WARM_LOCKS_GUARD:
        lock = _WARM_LOCKS.setdefault(path, threading.Lock())
    with lock:
        if os.path.isfile(os.path.join(path, "rm", "reward_model.json")):
            return 0
        os.makedirs(path, exist_ok=True)
        return run_logged(warm_command(output_dir, name, seed, overrides), os.path.join(path, "log.txt"), cwd=REPO)


def run_logged(cmd: list[str], log_path: str, cwd: str | None = None) -> int:
    """Run `cmd` to its end, appending the command line and then its output (unbuffered) to `log_path`; its exit
    code."""
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        return subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        ).returncode


COMMIT_ENV = "STUDY_CODE_COMMIT"  # names the commit where the code is a copy without .git (a remote machine)


def code_commit() -> str:
    """The commit of the code the runs import (`-dirty` when tracked files differ from it); where the code is not
    a git checkout, $STUDY_CODE_COMMIT if set (the copy's commit, as whoever copied it knows it), else "unknown"."""
    if not os.path.exists(os.path.join(REPO, ".git")):
        return os.environ.get(COMMIT_ENV) or "unknown"
    try:
        commit = subprocess.run(
            ["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def run_one(
    output_dir: str, arm: str, seed: int, overrides: list[str], initial_eval: bool, keep_models: bool = False
) -> dict:
    """Run (or resume) one arm and seed to the end; its output goes to `RUN_DIR/log.txt`, and the commit each
    invocation ran from to `RUN_DIR/commits.txt` (a resumed run may span several: the report refuses to mix
    them). Unless `keep_models`, a finished run's checkpoints/ and final/ are deleted (about 2 GB a run for
    SmolLM2): the report needs only its logs."""
    path = run_dir(output_dir, arm, seed)
    os.makedirs(path, exist_ok=True)
    if arm in ARM_WARM_START:
        code = ensure_warm_start(output_dir, ARM_WARM_START[arm], seed, overrides)
        if code:
            log = os.path.join(warm_dir(output_dir, ARM_WARM_START[arm], seed), "log.txt")
            return {"arm": arm, "seed": seed, "returncode": code, "seconds": 0.0, "failed": f"warm start: {log}"}
    cmd = command(output_dir, arm, seed, overrides, initial_eval)
    with open(os.path.join(path, "commits.txt"), "a", encoding="utf-8") as f:
        f.write(code_commit() + "\n")
    start = time.perf_counter()
    returncode = run_logged(cmd, os.path.join(path, "log.txt"))
    commits = list(dict.fromkeys(open(os.path.join(path, "commits.txt"), encoding="utf-8").read().split()))
    record = {
        "arm": arm,
        "seed": seed,
        "returncode": returncode,
        "seconds": time.perf_counter() - start,
        "commits": commits,
        "command": cmd,
    }
    if returncode == 0:
        with open(os.path.join(path, "study_run.json"), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
        if not keep_models:
            for name in ("checkpoints", "final"):
                shutil.rmtree(os.path.join(path, name), ignore_errors=True)
    return record


def run_study(
    arms: list[str],
    seeds: list[int],
    output_dir: str,
    overrides: list[str],
    progress: bool = True,
    keep_models: bool = False,
    parallel: int = 1,
) -> list[dict]:
    """Run every (arm, seed) not finished yet, `parallel` at a time; returns one record per run that ran now."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm.auto import tqdm

    todo = [(arm, seed) for seed in seeds for arm in arms if not is_finished(run_dir(output_dir, arm, seed))]
    # The base policy is evaluated once per seed and data: by the first run of it that has not done so yet.
    evaluated = set()
    jobs = []
    for arm, seed in todo:
        others = [run_dir(output_dir, a, seed) for a in ARMS if a != arm and data_overrides(a) == data_overrides(arm)]
        key = (seed, tuple(data_overrides(arm)))
        initial_eval = key not in evaluated and not any(has_initial_eval(p) for p in others)
        evaluated.add(key)
        jobs.append((arm, seed, initial_eval))
    bar = tqdm(
        total=len(arms) * len(seeds),
        initial=len(arms) * len(seeds) - len(todo),
        desc="study",
        disable=not progress,
        dynamic_ncols=True,
    )
    records = []
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:  # threads that each wait on one run's process
        futures = {
            pool.submit(run_one, output_dir, arm, seed, overrides, initial_eval, keep_models): (arm, seed)
            for arm, seed, initial_eval in jobs
        }
        for future in as_completed(futures):
            arm, seed = futures[future]
            record = future.result()
            records.append(record)
            if record["returncode"]:
                where = record.get("failed") or os.path.join(run_dir(output_dir, arm, seed), "log.txt")
                print(f"study: {arm} seed {seed} failed (exit {record['returncode']}); see {where}", file=sys.stderr)
            bar.set_postfix_str(f"{arm} seed {seed} done")
            bar.update(1)
    bar.close()
    return records


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    arms_help = "\n".join(f"  {name:<11} {text}" for name, (text, _) in ARMS.items())
    parser = argparse.ArgumentParser(
        description=__doc__ + "\narms:\n" + arms_help, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--arms",
        nargs="+",
        default=list(ARMS),
        choices=list(ARMS),
        metavar="ARM",
        help=f"arms to run (default: all: {' '.join(ARMS)})",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (default: 0 1 2)")
    parser.add_argument("--output-dir", default="runs/study", help="study directory (resumed if it exists)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar across runs")
    parser.add_argument(
        "--keep-models",
        action="store_true",
        help="keep each finished run's checkpoints/ and final/ (default: deleted, logs kept)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="runs at once, each its own process (default 1; e.g. several on one GPU)",
    )
    parser.add_argument(
        "--baseline",
        metavar="ARM",
        help="the arm the report's paired differences are taken against (default: the first arm)",
    )
    parser.add_argument(
        "--allow-mixed-commits",
        action="store_true",
        help="report runs made from different commits in one table (refused by default)",
    )
    args, overrides = parser.parse_known_args(argv)
    if args.parallel < 1:
        parser.error(f"--parallel must be >= 1, got {args.parallel}")
    if len(args.seeds) < 2:
        parser.error("--seeds: give at least two seeds; an interval needs them")
    if args.baseline is not None and args.baseline not in args.arms:
        parser.error(f"--baseline {args.baseline} is not one of --arms {args.arms}")
    return args, overrides


def main(argv: list[str] | None = None) -> dict:
    from orchestration.config import load_config
    from orchestration.dataclass_yaml import ConfigError
    from orchestration.study_report import MixedCommits, NoFinishedRuns, write_report

    args, overrides = parse_args(argv)
    for arm in args.arms:  # every config error before the first run starts
        try:
            load_config(None, [*DEFAULTS, *ARMS[arm][1], *overrides])
            if arm in ARM_WARM_START:
                load_config(None, [*DEFAULTS, *WARM_STARTS[ARM_WARM_START[arm]][1], *overrides])
        except (ConfigError, ValueError) as e:
            sys.exit(f"config error (arm {arm}): {e}")
    records = run_study(
        args.arms,
        args.seeds,
        args.output_dir,
        overrides,
        progress=not args.no_progress,
        keep_models=args.keep_models,
        parallel=args.parallel,
    )
    try:
        results = write_report(
            args.output_dir,
            args.arms,
            args.seeds,
            "python -m orchestration.study " + " ".join(argv if argv is not None else sys.argv[1:]),
            args.baseline,
            args.allow_mixed_commits,
        )
    except MixedCommits as e:
        sys.exit(f"study report: {e}")
    except NoFinishedRuns as e:  # every run failed: say so below, with their logs named above
        results = {}
        print(f"study report: {e}", file=sys.stderr)
    else:
        print(f"study: {os.path.join(args.output_dir, 'report.md')}")
    if any(r["returncode"] for r in records):
        sys.exit("study: some runs failed; their logs are named above. Re-run the same command to retry them.")
    return results


if __name__ == "__main__":
    main()
