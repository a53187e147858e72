"""What the worked example in the built-in arithmetic prompts does to the base policy, on the loop's own held-out
set: accuracy and the share of answers in the asked `\\boxed{}`, greedy and sampled, overall and per phrasing, with
the prompt opening on one worked example of its level (`data.worked_example true`, the default) and without it.

    python benchmarks/bench_worked_example.py --json benchmarks/worked_example/base_policy.json

The held-out problems are the default run's (`data.eval_size` 48, level 1, three phrasings); sampled figures use
the loop's evaluation settings (temperature 0.7, `--samples` per problem) over `--seeds`. Intervals: 95% bootstrap
over problems (a problem's samples are not independent; its samples under every seed count as one unit).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.bench_base_policy import bootstrap_interval  # noqa: E402
from orchestration.config import load_config  # noqa: E402
from orchestration.data_sources import build_sources  # noqa: E402
from orchestration.reward_terms import well_formatted  # noqa: E402
from orchestration.rewards import verify  # noqa: E402
from policy.model import load_policy  # noqa: E402
from policy.sampling import SamplingConfig, chat_prompts, sample_groups  # noqa: E402


def figures(items, texts, outcomes, k: int, seeds: int) -> dict:
    """Per-problem accuracy and boxed share (its k samples under every seed), overall and per phrasing, with
    intervals; `texts`/`outcomes` hold one block of len(items) * k per seed."""
    block = len(items) * k
    out = {}
    for part in [None, *sorted({item.meta.get("phrasing") for item in items})]:
        rows = [i for i, item in enumerate(items) if part is None or item.meta.get("phrasing") == part]
        for name, values in (
            ("accuracy", [float(o.correct) for o in outcomes]),
            ("boxed", [float(well_formatted("math", t)) for t in texts]),
        ):
            per_problem = [
                sum(values[s * block + i * k + j] for s in range(seeds) for j in range(k)) / (seeds * k) for i in rows
            ]
            key = name if part is None else f"{name}_{part}"
            out[key] = sum(per_problem) / len(per_problem)
            out[f"{key}_interval"] = bootstrap_interval(per_problem)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=4, help="sampled completions per problem and seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    model, tokenizer = load_policy()
    results = []
    for worked in (True, False):
        cfg = load_config(None, ["--data.worked_example", str(worked).lower()])
        items = build_sources(cfg.data, 0)[1]
        prompts = chat_prompts(tokenizer, [item.prompt for item in items])
        for mode, temperature, seeds, k in (("greedy", 0.0, [0], 1), ("sampled", 0.7, args.seeds, args.samples)):
            sampling = SamplingConfig(max_new_tokens=cfg.sampling.max_new_tokens, temperature=temperature)
            texts, outcomes = [], []
            for seed in seeds:
                rollouts = sample_groups(model, tokenizer, prompts, k, sampling, seed=seed)
                expanded = [item for item in items for _ in range(k)]
                judged = verify(expanded, rollouts.texts, timeout=5.0, truncated=rollouts.truncated.tolist())
                texts += rollouts.texts
                outcomes += judged
            result = {
                "worked_example": worked,
                "mode": mode,
                "problems": len(items),
                "samples": k,
                "seeds": seeds,
                **figures(items, texts, outcomes, k, len(seeds)),
            }
            results.append(result)
            print(
                f"worked_example={str(worked).lower():5} {mode:7} accuracy {result['accuracy']:.3f} "
                f"[{result['accuracy_interval'][0]:.3f}, {result['accuracy_interval'][1]:.3f}]  boxed "
                f"{result['boxed']:.3f} [{result['boxed_interval'][0]:.3f}, {result['boxed_interval'][1]:.3f}]  "
                + "  ".join(
                    f"{p} {result[f'accuracy_{p}']:.2f}/{result[f'boxed_{p}']:.2f}" for p in ("bare", "worded", "word")
                ),
                flush=True,
            )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": results}, indent=1))


if __name__ == "__main__":
    main()
