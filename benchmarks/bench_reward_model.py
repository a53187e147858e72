"""Reward-model throughput on CPU with the embedded MiniLM: ours against a naive loop, in one run.

    python benchmarks/bench_reward_model.py                      # small default (a few minutes on 2 cores)
    python benchmarks/bench_reward_model.py --score-pairs 512 --train-examples 256 --threads 2

Scoring (pairs/s): `ScalarRewardModel.score` (length-sorted batches, dynamic padding, no grad) against
one pair at a time padded to `max_length`. Training (examples/s): one `RMTrainer.fit` epoch (tokenised once,
length-bucketed batches, dynamic padding, frozen token embeddings) against a loop that tokenises every
batch with `padding="max_length"` and trains every weight. The online loop pays the RM's cost every N
policy steps, so these ratios are paid again and again. Data: `reward_model.synthetic` (policy-shaped).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from reward_model import ScalarRewardModel
from reward_model.synthetic import make_records
from reward_model.train import RMTrainConfig, RMTrainer


@torch.no_grad()
def naive_score(rm: ScalarRewardModel, prompts: list[str], responses: list[str]) -> torch.Tensor:
    rm.eval()
    scores = []
    for p, r in zip(prompts, responses):
        batch = rm.tokenizer(p, r, padding="max_length", truncation=True, max_length=rm.max_length,
                             return_tensors="pt")
        scores.append(rm(**batch).item())
    return torch.tensor(scores)


def naive_train_epoch(rm: ScalarRewardModel, records, batch_size: int) -> None:
    optimizer = torch.optim.AdamW(rm.parameters(), lr=5e-5, weight_decay=0.01)
    rm.train()
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        batch = rm.tokenizer([r.prompt for r in chunk], [r.response for r in chunk], padding="max_length",
                             truncation=True, max_length=rm.max_length, return_tensors="pt")
        loss = F.binary_cross_entropy_with_logits(rm(**batch), torch.tensor([r.outcome for r in chunk]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(rm.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--score-pairs", type=int, default=256)
    parser.add_argument("--train-examples", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    records = make_records(max(args.score_pairs, args.train_examples) // 8 + 1, seed=0)
    rm = ScalarRewardModel.from_encoder(max_length=args.max_length, seed=0)
    lengths = [len(ids) for ids, _ in rm.encode([r.prompt for r in records], [r.response for r in records])]
    print(f"MiniLM, max_length {args.max_length}, {torch.get_num_threads()} threads; pair lengths: mean "
          f"{sum(lengths) / len(lengths):.0f}, max {max(lengths)} tokens")

    score_set = records[:args.score_pairs]
    prompts, responses = [r.prompt for r in score_set], [r.response for r in score_set]
    rm.score(prompts[:8], responses[:8])  # warm-up
    ours = timed(lambda: rm.score(prompts, responses, batch_size=args.batch_size))
    naive = timed(lambda: naive_score(rm, prompts, responses))
    torch.testing.assert_close(rm.score(prompts[:16], responses[:16]), naive_score(rm, prompts[:16], responses[:16]),
                               atol=1e-4, rtol=1e-4)  # same numbers, only cheaper
    n = len(score_set)
    print(f"score: ours {n / ours:8.1f} pairs/s | naive one-at-a-time, fixed padding {n / naive:8.1f} pairs/s "
          f"| speed-up {naive / ours:.1f}x")

    train_set = records[:args.train_examples]
    cfg = RMTrainConfig(epochs=1, batch_size=args.batch_size, val_fraction=0.0, progress_bar=False)
    warm = ScalarRewardModel.from_encoder(max_length=args.max_length, seed=0)  # first-backward set-up costs
    RMTrainer(warm, RMTrainConfig(max_steps=1, batch_size=4, val_fraction=0.0, progress_bar=False)).fit(train_set[:8])
    ours = timed(lambda: RMTrainer(rm, cfg).fit(train_set))
    fresh = ScalarRewardModel.from_encoder(max_length=args.max_length, seed=0)
    naive = timed(lambda: naive_train_epoch(fresh, train_set, args.batch_size))
    n = len(train_set)
    print(f"train: ours {n / ours:8.1f} examples/s | naive fixed padding, all weights {n / naive:8.1f} examples/s "
          f"| speed-up {naive / ours:.1f}x")


if __name__ == "__main__":
    main()
