"""How often the base policy solves the built-in arithmetic, and how many GRPO groups carry a signal.

GRPO learns only from groups that hold both right and wrong completions (otherwise every advantage is 0),
so the default task level and sampling settings are chosen to maximise the share of such "mixed" groups.

    python benchmarks/bench_base_policy.py --levels 1 2 --temperatures 0.7 1.0 --prompts 16 --group-size 8
"""

from __future__ import annotations

import argparse
import time

from orchestration.arithmetic import ArithmeticTasks
from orchestration.rewards import verify
from policy.model import load_policy
from policy.sampling import SamplingConfig, sample_groups, user_message


def measure(model, tokenizer, level: int, temperature: float, top_p: float, prompts: int, group_size: int,
            max_new_tokens: int, seed: int = 0) -> dict[str, float]:
    items = ArithmeticTasks(level, "train", seed=seed).take(prompts)
    k = 1 if temperature == 0 else group_size
    cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    start = time.perf_counter()
    rollouts = sample_groups(model, tokenizer, [user_message(i.prompt) for i in items], k, cfg, seed=seed)
    seconds = time.perf_counter() - start
    outcomes = verify([i for i in items for _ in range(k)], rollouts.texts, timeout=5.0,
                      truncated=rollouts.truncated.tolist())
    groups = [outcomes[j:j + k] for j in range(0, len(outcomes), k)]
    return {"accuracy": sum(o.correct for o in outcomes) / len(outcomes),
            "mixed_groups": sum(len({o.correct for o in g}) == 2 for g in groups) / len(groups),
            "truncated": rollouts.truncated.float().mean().item(), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 0.7, 1.0])
    parser.add_argument("--top-p", type=float, nargs="+", default=[1.0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()
    model, tokenizer = load_policy(None)
    model.eval()
    print(f"{'level':>5} {'temp':>5} {'top_p':>5} {'accuracy':>9} {'mixed':>6} {'trunc':>6} {'sec':>6}")
    for level in args.levels:
        for temperature in args.temperatures:
            for top_p in args.top_p if temperature > 0 else [1.0]:
                r = measure(model, tokenizer, level, temperature, top_p, args.prompts, args.group_size,
                            args.max_new_tokens)
                print(f"{level:>5} {temperature:>5} {top_p:>5} {r['accuracy']:>9.3f} {r['mixed_groups']:>6.3f} "
                      f"{r['truncated']:>6.3f} {r['seconds']:>6.1f}", flush=True)


if __name__ == "__main__":
    main()
