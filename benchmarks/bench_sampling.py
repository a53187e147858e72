"""Sampling throughput of the policy: `policy.sampling.sample_groups` against baselines.

Completion tokens per second (tokens up to and including the stop token) at B*k = 32 and 128,
measured in one run on this machine against
  (a) a plain loop calling HF `generate(num_return_sequences=k)` once per prompt; each call has
      the same batch (k rows), so its tok/s does not depend on B: it is timed on the first
      `--baseline-prompts` prompts only, to keep the run short;
  (b) the compute roof: a matmul FLOP/s measured in the same run, over 2 x parameters FLOPs/token;
  (optional, `--methods ours generate_batched`) HF `generate` on the whole batch at once.
Methods are interleaved per repeat so that load from other processes hits them alike.

    python benchmarks/bench_sampling.py        # embedded SmolLM2, B*k = 32 and 128, 64 new tokens
    python benchmarks/bench_sampling.py --rows 32 --max-new-tokens 128 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policy.model import load_policy  # noqa: E402
from policy.sampling import SamplingConfig, encode_prompt, sample_groups, stop_token_ids, user_message  # noqa: E402

QUESTIONS = [
    "What is 17 * 23? Explain briefly.",
    "Simplify (x^2 - 1) / (x - 1).",
    "A train goes 60 km in 45 minutes. What is its speed in km/h?",
    "What is the sum of the first 20 positive integers?",
    "Solve 3x + 7 = 22.",
    "What is 15% of 240?",
    "How many prime numbers are smaller than 30?",
    "What is the derivative of x^3 + 2x?",
    "Write 0.375 as a fraction.",
    "A rectangle has sides 7 and 12. What is its diagonal?",
    "What is 2 to the power 10?",
    "Convert 98.6 F to Celsius.",
    "What is the area of a circle of radius 3?",
    "Factor x^2 + 5x + 6.",
    "What is the least common multiple of 12 and 18?",
    "How many minutes are in a week?",
]


def matmul_flops(size: int = 1024, repeats: int = 10) -> float:
    """Best-of-`repeats` float32 matmul FLOP/s: the practical compute roof of this machine now."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def count_completion_tokens(completions: torch.Tensor, stop_ids: list[int]) -> int:
    """Tokens up to and including the first stop token of each row (HF pads after it)."""
    is_stop = torch.isin(completions, torch.tensor(stop_ids))
    first_stop = torch.where(
        is_stop.any(1),
        is_stop.float().argmax(1) + 1,
        torch.full_like(is_stop[:, 0], completions.shape[1], dtype=torch.long),
    )
    return int(first_stop.sum())


def run_ours(model, tokenizer, prompts, k, cfg, seed):
    return int(sample_groups(model, tokenizer, prompts, k, cfg, seed=seed).completion_mask.sum())


def _hf_generate(model, tokenizer, prompts, k, cfg, stop_ids):
    encoded = [encode_prompt(tokenizer, p) for p in prompts]
    width = max(map(len, encoded))
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(e)) + e for e in encoded])
    mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded])
    out = model.generate(
        input_ids=ids,
        attention_mask=mask,
        do_sample=True,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        top_k=0,
        max_new_tokens=cfg.max_new_tokens,
        num_return_sequences=k,
        eos_token_id=stop_ids,
        pad_token_id=tokenizer.pad_token_id,
    )
    return count_completion_tokens(out[:, width:], stop_ids)


def run_generate_per_prompt(model, tokenizer, prompts, k, cfg, seed):
    torch.manual_seed(seed)
    stop_ids = stop_token_ids(model, tokenizer)
    return sum(_hf_generate(model, tokenizer, [p], k, cfg, stop_ids) for p in prompts)


def run_generate_batched(model, tokenizer, prompts, k, cfg, seed):
    torch.manual_seed(seed)
    stop_ids = stop_token_ids(model, tokenizer)
    per_call = max(1, cfg.max_batch_size // k)
    return sum(
        _hf_generate(model, tokenizer, prompts[i : i + per_call], k, cfg, stop_ids)
        for i in range(0, len(prompts), per_call)
    )


METHODS = {"ours": run_ours, "generate_per_prompt": run_generate_per_prompt, "generate_batched": run_generate_batched}


def measure(method, model, tokenizer, prompts, k, cfg, seed) -> tuple[float, int, float]:
    start = time.perf_counter()
    tokens = METHODS[method](model, tokenizer, prompts, k, cfg, seed)
    seconds = time.perf_counter() - start
    return tokens / seconds, tokens, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="policy name or path (default: embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--rows", type=int, nargs="+", default=[32, 128], help="B*k values to measure")
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument(
        "--baseline-prompts", type=int, default=2, help="prompts the per-prompt generate loop is timed on"
    )
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repeats per method (median reported)")
    parser.add_argument("--methods", nargs="+", default=["ours", "generate_per_prompt"], choices=list(METHODS))
    args = parser.parse_args()

    torch.set_grad_enabled(False)
    model, tokenizer = load_policy(args.model)
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    cfg = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=1.0, top_p=1.0, max_batch_size=128)
    print(f"model: {params / 1e6:.1f}M parameters, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"group_size={args.group_size}, max_new_tokens={args.max_new_tokens}, temperature=1.0")
    for rows in args.rows:
        prompts = [user_message(QUESTIONS[i % len(QUESTIONS)]) for i in range(rows // args.group_size)]
        results = {m: [] for m in args.methods}
        flops = []
        for repeat in range(args.repeats):
            flops.append(matmul_flops())
            for method in args.methods:
                subset = prompts[: args.baseline_prompts] if method == "generate_per_prompt" else prompts
                results[method].append(measure(method, model, tokenizer, subset, args.group_size, cfg, seed=repeat))
                tps, tokens, seconds = results[method][-1]
                print(
                    f"  B*k={rows:4d} {method:20s} {tokens:6d} tokens in {seconds:6.1f} s = {tps:7.1f} tok/s",
                    flush=True,
                )
        roof = statistics.median(flops) / (2 * params)
        speed = {m: statistics.median(r[0] for r in results[m]) for m in args.methods}
        print(f"B*k={rows}: matmul {statistics.median(flops) / 1e9:.1f} GFLOP/s -> roof {roof:.0f} tok/s")
        if "ours" in speed:
            for method in speed:
                if method != "ours":
                    print(f"B*k={rows}: ours / {method} = {speed['ours'] / speed[method]:.2f}x")
            print(f"B*k={rows}: ours / compute roof = {speed['ours'] / roof:.1%}")


if __name__ == "__main__":
    main()
