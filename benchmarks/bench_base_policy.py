"""How often the base policy solves the built-in tasks, and how many GRPO groups carry a signal.

GRPO learns only from groups that hold both right and wrong completions (otherwise every advantage is 0),
so the default task level and sampling settings are chosen to maximise the share of such "mixed" groups.
Accuracy and the mixed share come with a 95% interval from a bootstrap over prompts (a prompt's k samples are
not independent draws, so the prompt is the unit that is resampled).

For the multi-step source (process supervision) it also reports, per completion, the steps (`verifiers.steps.
segment`: lines), the share of steps the rule checker can verify (`verifiers.math.check_steps`: "true" or
"false", not "unverifiable"), the share of those that are wrong, the share of steps that only repeat earlier
claims (`verifiers.steps.repeated_claims`), and the steps that would earn a positive reward under process
supervision (rule labels, the last step by the verified answer, repeats and the task's bound applied:
`verifiers.steps.progress_rewards`). `--no-worked-example` uses the earlier multistep prompt (the format named
inline instead of shown once as a worked example).

    python benchmarks/bench_base_policy.py --levels 1 2 --temperatures 0.7 1.0 --prompts 16 --group-size 8
    python benchmarks/bench_base_policy.py --source multistep --levels 1 2 --temperatures 0.5 0.7 1.0 \
        --prompts 64 --max-new-tokens 128 --json multistep.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from orchestration.data_sources import GENERATORS  # noqa: E402
from orchestration.rewards import verify  # noqa: E402
from policy.model import load_policy  # noqa: E402
from policy.sampling import SamplingConfig, chat_prompts, sample_groups  # noqa: E402


def bootstrap_interval(per_prompt: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of `per_prompt` (one value per prompt), prompts resampled."""
    rng, n = random.Random(seed), len(per_prompt)
    means = sorted(sum(rng.choice(per_prompt) for _ in range(n)) / n for _ in range(resamples))
    return means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


def step_figures(texts: list[str], items: list, outcomes: list) -> dict[str, float]:
    """Per-step figures of multi-step completions (`items[i]`, `outcomes[i]` belong to `texts[i]`)."""
    from dataclasses import replace

    from verifiers.math import check_steps
    from verifiers.steps import mark_repeats, progress_rewards

    steps = repeats = rewarded = checked = wrong = 0
    for text, item, outcome in zip(texts, items, outcomes):
        judged = mark_repeats(check_steps(text, mode="lines", substitute=item.meta.get("substitute")), text)
        if judged:
            judged[-1] = replace(judged[-1], outcome=outcome)
        steps += len(judged)
        repeats += sum(s.repeated for s in judged)
        checked += sum(s.verdict != "unverifiable" for s in judged)
        wrong += sum(s.verdict == "false" for s in judged)
        paid = progress_rewards(
            [s.label for s in judged], [s.repeated for s in judged], item.meta.get("max_rewarded_steps")
        )
        rewarded += sum(1 for r in paid if r and r > 0)
    n = max(len(texts), 1)
    return {
        "steps_per_completion": steps / n,
        "verifiable_steps": checked / max(steps, 1),
        "wrong_steps": wrong / max(checked, 1),
        "repeated_steps": repeats / max(steps, 1),
        "rewarded_steps_per_completion": rewarded / n,
    }


def measure(
    model,
    tokenizer,
    level: int,
    temperature: float,
    top_p: float,
    prompts: int,
    group_size: int,
    max_new_tokens: int,
    seed: int = 0,
    source: str = "arithmetic",
    worked_example: bool = True,
) -> dict[str, float]:
    extra = {} if source == "arithmetic" else {"worked_example": worked_example}
    tasks = GENERATORS[source]([level], "train", seed=seed, **extra)
    items = [tasks.item(i) for i in range(prompts)]
    k = 1 if temperature == 0 else group_size
    cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    start = time.perf_counter()
    rollouts = sample_groups(model, tokenizer, chat_prompts(tokenizer, [i.prompt for i in items]), k, cfg, seed=seed)
    seconds = time.perf_counter() - start
    expanded = [i for i in items for _ in range(k)]
    outcomes = verify(expanded, rollouts.texts, timeout=5.0, truncated=rollouts.truncated.tolist())
    groups = [outcomes[j : j + k] for j in range(0, len(outcomes), k)]
    per_prompt = [sum(o.correct for o in g) / k for g in groups]
    mixed = [float(len({o.correct for o in g}) == 2) for g in groups]
    result = {
        "level": level,
        "temperature": temperature,
        "top_p": top_p,
        "prompts": prompts,
        "group_size": k,
        "accuracy": sum(per_prompt) / len(per_prompt),
        "accuracy_interval": bootstrap_interval(per_prompt),
        "mixed_groups": sum(mixed) / len(mixed),
        "mixed_groups_interval": bootstrap_interval(mixed),
        "truncated": rollouts.truncated.float().mean().item(),
        "seconds": seconds,
    }
    if source == "multistep":
        result.update(worked_example=worked_example, **step_figures(rollouts.texts, expanded, outcomes))
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
    parser.add_argument("--seed", type=int, default=0, help="which training problems, and the sampling seed")
    parser.add_argument(
        "--no-worked-example",
        action="store_true",
        help="multistep: the earlier prompt, the format named inline instead of a worked example",
    )
    parser.add_argument("--json", help="also write every row here")
    args = parser.parse_args()
    model, tokenizer = load_policy(None)
    model.eval()
    steps = args.source == "multistep"
    print(
        f"{'level':>5} {'temp':>5} {'top_p':>5} {'accuracy [95%]':>22} {'mixed [95%]':>20} {'trunc':>6} {'sec':>6}"
        + (f" {'steps':>6} {'verif':>6} {'wrong':>6} {'repeat':>6} {'paid':>5}" if steps else "")
    )
    rows = []
    for level in args.levels:
        for temperature in args.temperatures:
            for top_p in args.top_p if temperature > 0 else [1.0]:
                r = measure(
                    model,
                    tokenizer,
                    level,
                    temperature,
                    top_p,
                    args.prompts,
                    args.group_size,
                    args.max_new_tokens,
                    seed=args.seed,
                    source=args.source,
                    worked_example=not args.no_worked_example,
                )
                rows.append(r)
                (a_lo, a_hi), (m_lo, m_hi) = r["accuracy_interval"], r["mixed_groups_interval"]
                print(
                    f"{level:>5} {temperature:>5} {top_p:>5} {r['accuracy']:>7.3f} [{a_lo:.3f}, {a_hi:.3f}] "
                    f"{r['mixed_groups']:>5.3f} [{m_lo:.3f}, {m_hi:.3f}] {r['truncated']:>6.3f} {r['seconds']:>6.1f}"
                    + (
                        f" {r['steps_per_completion']:>6.2f} {r['verifiable_steps']:>6.3f} {r['wrong_steps']:>6.3f}"
                        f" {r['repeated_steps']:>6.3f} {r['rewarded_steps_per_completion']:>5.2f}"
                        if steps
                        else ""
                    ),
                    flush=True,
                )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
