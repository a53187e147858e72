"""How often the base policy solves the built-in tasks, and how many GRPO groups carry a signal.

GRPO learns only from groups that hold both right and wrong completions (otherwise every advantage is 0),
so the default task level and sampling settings are chosen to maximise the share of such "mixed" groups.
For the multi-step source (process supervision) it also reports the share of steps the rule checker can
verify (`verifiers.math.check_steps`: "true" or "false", not "unverifiable") and the share of verifiable
steps that are wrong.

    python benchmarks/bench_base_policy.py --levels 1 2 --temperatures 0.7 1.0 --prompts 16 --group-size 8
    python benchmarks/bench_base_policy.py --source multistep --levels 1 2 3 4 --temperatures 0.7 --max-new-tokens 128
"""

from __future__ import annotations

import argparse
import time

from orchestration.data_sources import GENERATORS
from orchestration.rewards import verify
from policy.model import load_policy
from policy.sampling import SamplingConfig, sample_groups, user_message


def measure(model, tokenizer, level: int, temperature: float, top_p: float, prompts: int, group_size: int,
            max_new_tokens: int, seed: int = 0, source: str = "arithmetic") -> dict[str, float]:
    tasks = GENERATORS[source]([level], "train", seed=seed)
    items = [tasks.item(i) for i in range(prompts)]
    k = 1 if temperature == 0 else group_size
    cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    start = time.perf_counter()
    rollouts = sample_groups(model, tokenizer, [user_message(i.prompt) for i in items], k, cfg, seed=seed)
    seconds = time.perf_counter() - start
    outcomes = verify([i for i in items for _ in range(k)], rollouts.texts, timeout=5.0,
                      truncated=rollouts.truncated.tolist())
    groups = [outcomes[j:j + k] for j in range(0, len(outcomes), k)]
    result = {"accuracy": sum(o.correct for o in outcomes) / len(outcomes),
              "mixed_groups": sum(len({o.correct for o in g}) == 2 for g in groups) / len(groups),
              "truncated": rollouts.truncated.float().mean().item(), "seconds": seconds}
    if source == "multistep":
        from verifiers.math import check_steps

        verdicts = [s.verdict for j, text in enumerate(rollouts.texts)
                    for s in check_steps(text, mode="lines", substitute=items[j // k].meta.get("substitute"))]
        checked = [v for v in verdicts if v != "unverifiable"]
        result.update(steps_per_completion=len(verdicts) / len(rollouts.texts),
                      verifiable_steps=len(checked) / max(len(verdicts), 1),
                      wrong_steps=checked.count("false") / max(len(checked), 1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=sorted(GENERATORS), default="arithmetic")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 0.7, 1.0])
    parser.add_argument("--top-p", type=float, nargs="+", default=[1.0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()
    model, tokenizer = load_policy(None)
    model.eval()
    steps = args.source == "multistep"
    print(f"{'level':>5} {'temp':>5} {'top_p':>5} {'accuracy':>9} {'mixed':>6} {'trunc':>6} {'sec':>6}"
          + (f" {'steps':>6} {'verif':>6} {'wrong':>6}" if steps else ""))
    for level in args.levels:
        for temperature in args.temperatures:
            for top_p in args.top_p if temperature > 0 else [1.0]:
                r = measure(model, tokenizer, level, temperature, top_p, args.prompts, args.group_size,
                            args.max_new_tokens, source=args.source)
                print(f"{level:>5} {temperature:>5} {top_p:>5} {r['accuracy']:>9.3f} {r['mixed_groups']:>6.3f} "
                      f"{r['truncated']:>6.3f} {r['seconds']:>6.1f}"
                      + (f" {r['steps_per_completion']:>6.2f} {r['verifiable_steps']:>6.3f} {r['wrong_steps']:>6.3f}"
                         if steps else ""), flush=True)


if __name__ == "__main__":
    main()
