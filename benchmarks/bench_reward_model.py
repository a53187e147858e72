"""Reward-model throughput on CPU with the embedded MiniLM: ours against a naive loop, in one run; and the cost
of the policy's own base model (SmolLM2-135M) as the RM's backbone against MiniLM.

    python benchmarks/bench_reward_model.py                      # small default (a few minutes on 2 cores)
    python benchmarks/bench_reward_model.py --score-pairs 512 --train-examples 256 --threads 2
    python benchmarks/bench_reward_model.py --backbones --trainable-layers 4   # SmolLM2 vs MiniLM only

Backbones (`--backbones`): scoring seconds per pair and update seconds per example (one `RMTrainer.fit` epoch,
the online loop's RM update) for MiniLM and for SmolLM2 (all layers, only the top `--trainable-layers`, and
LoRA adapters of rank `--lora-r` on every linear layer with the rest frozen), and their ratios to MiniLM, measured
in the same run on the same records.

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
        batch = rm.tokenizer(p, r, padding="max_length", truncation=True, max_length=rm.max_length, return_tensors="pt")
        scores.append(rm(**batch).item())
    return torch.tensor(scores)


def naive_train_epoch(rm: ScalarRewardModel, records, batch_size: int) -> None:
    optimizer = torch.optim.AdamW(rm.parameters(), lr=5e-5, weight_decay=0.01)
    rm.train()
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        batch = rm.tokenizer(
            [r.prompt for r in chunk],
            [r.response for r in chunk],
            padding="max_length",
            truncation=True,
            max_length=rm.max_length,
            return_tensors="pt",
        )
        loss = F.binary_cross_entropy_with_logits(rm(**batch), torch.tensor([r.outcome for r in chunk]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(rm.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def backbone_costs(records, args) -> None:
    """Per-pair scoring and per-example update seconds of each backbone; ratios to MiniLM."""
    prompts, responses = (
        [r.prompt for r in records[: args.score_pairs]],
        [r.response for r in records[: args.score_pairs]],
    )
    train_set = records[: args.train_examples]
    rows = []
    lora = {"r": args.lora_r, "alpha": 2.0 * args.lora_r}
    for name, encoder, layers, adapters in (
        ("MiniLM-L6 (22M)", None, None, None),
        ("SmolLM2-135M, all layers", "policy", None, None),
        (f"SmolLM2-135M, top {args.trainable_layers} layers", "policy", args.trainable_layers, None),
        (f"SmolLM2-135M, LoRA r={args.lora_r}", "policy", None, lora),
    ):
        rm = ScalarRewardModel.from_encoder(encoder, max_length=args.max_length, seed=0, lora=adapters)
        rm.score(prompts[:8], responses[:8])  # warm-up
        score = timed(lambda: rm.score(prompts, responses, batch_size=args.batch_size)) / len(prompts)
        cfg = RMTrainConfig(
            epochs=1, batch_size=args.batch_size, val_fraction=0.0, progress_bar=False, trainable_layers=layers
        )
        trainer = RMTrainer(rm, cfg)
        trainer.fit(train_set[:8])  # first-backward set-up costs
        update = timed(lambda: trainer.fit(train_set)) / len(train_set)
        rows.append((name, score, update))
    base_score, base_update = rows[0][1], rows[0][2]
    print(f"{'backbone':<32} {'score ms/pair':>14} {'x MiniLM':>9} {'update ms/example':>18} {'x MiniLM':>9}")
    for name, score, update in rows:
        print(
            f"{name:<32} {1000 * score:>14.1f} {score / base_score:>9.1f} {1000 * update:>18.1f} "
            f"{update / base_update:>9.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--score-pairs", type=int, default=256)
    parser.add_argument("--train-examples", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--backbones", action="store_true", help="only the backbone comparison (module docstring)")
    parser.add_argument("--trainable-layers", type=int, default=4, help="SmolLM2 layers trained in the cheap variant")
    parser.add_argument(
        "--lora-r", type=int, default=16, help="rank of the LoRA variant (every linear layer of SmolLM2; needs peft)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    records = make_records(max(args.score_pairs, args.train_examples) // 8 + 1, seed=0)
    if args.backbones:
        return backbone_costs(records, args)
    rm = ScalarRewardModel.from_encoder(max_length=args.max_length, seed=0)
    lengths = [len(ids) for ids, _ in rm.encode([r.prompt for r in records], [r.response for r in records])]
    print(
        f"MiniLM, max_length {args.max_length}, {torch.get_num_threads()} threads; pair lengths: mean "
        f"{sum(lengths) / len(lengths):.0f}, max {max(lengths)} tokens"
    )

    score_set = records[: args.score_pairs]
    prompts, responses = [r.prompt for r in score_set], [r.response for r in score_set]
    rm.score(prompts[:8], responses[:8])  # warm-up
    ours = timed(lambda: rm.score(prompts, responses, batch_size=args.batch_size))
    naive = timed(lambda: naive_score(rm, prompts, responses))
    torch.testing.assert_close(
        rm.score(prompts[:16], responses[:16]), naive_score(rm, prompts[:16], responses[:16]), atol=1e-4, rtol=1e-4
    )  # same numbers, only cheaper
    n = len(score_set)
    print(
        f"score: ours {n / ours:8.1f} pairs/s | naive one-at-a-time, fixed padding {n / naive:8.1f} pairs/s "
        f"| speed-up {naive / ours:.1f}x"
    )

    train_set = records[: args.train_examples]
    cfg = RMTrainConfig(epochs=1, batch_size=args.batch_size, val_fraction=0.0, progress_bar=False)
    warm = ScalarRewardModel.from_encoder(max_length=args.max_length, seed=0)  # first-backward set-up costs
    RMTrainer(warm, RMTrainConfig(max_steps=1, batch_size=4, val_fraction=0.0, progress_bar=False)).fit(train_set[:8])
    ours = timed(lambda: RMTrainer(rm, cfg).fit(train_set))
    fresh = ScalarRewardModel.from_encoder(max_length=args.max_length, seed=0)
    naive = timed(lambda: naive_train_epoch(fresh, train_set, args.batch_size))
    n = len(train_set)
    print(
        f"train: ours {n / ours:8.1f} examples/s | naive fixed padding, all weights {n / naive:8.1f} examples/s "
        f"| speed-up {naive / ours:.1f}x"
    )


if __name__ == "__main__":
    main()
