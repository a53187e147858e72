"""Learning curves of the reward model on base-policy samples: held-out ranking accuracy against the number of
training outcomes, reference-free and reference-aware, with and without hard negatives, on problems the RM has seen
and on problems it has not, split by the kind of wrong answer.

    python benchmarks/rm_learning_curves.py sample --data-dir /work/rm-data/level2 --train-prompts 512
    python benchmarks/rm_learning_curves.py fit --data-dir /work/rm-data/level2 --sizes 64 256 1024 4096 \\
        --variants free aware free+hn aware+hn --output benchmarks/rm_learning_curves/minilm.json
    python benchmarks/rm_learning_curves.py table benchmarks/rm_learning_curves/*.json

`sample` draws the study's setting (level 2, all three phrasings, 8 completions per prompt at temperature 0.7, 64
new tokens, the embedded SmolLM2-135M) once and caches it as outcome buffers (`orchestration.bootstrap.sample_to_buffer`,
resumable): `train.jsonl` (the first N training prompts), `seen.jsonl` (fresh samples of the first 128 of them) and
`unseen.jsonl` (128 prompts of the loop's own held-out set, `data_sources.build_sources`, never trained on).
`fit` trains one RM per (size, variant) on the first `size` training outcomes (whole groups, in stream order) and
scores both held-out sets; `seen` counts only the prompts inside that fit's training set. Intervals: 95% bootstrap
over groups (prompts), clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SEEN_PROMPTS = 128


def study_config():
    from orchestration.config import load_config

    return load_config(None, ["--data.levels", "[2]", "--data.eval_size", "128"])


def sample(args) -> None:
    from orchestration.bootstrap import check_training_only, sample_to_buffer
    from orchestration.data_sources import build_sources
    from policy.model import load_policy

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = study_config()
    cfg.sampling.max_batch_size = args.max_batch_size
    train_source, held_out = build_sources(cfg.data, seed=0)
    train_items = [train_source.item(i) for i in range(args.train_prompts)]
    check_training_only(train_items, held_out, cfg.data)
    os.makedirs(args.data_dir, exist_ok=True)
    cached = {}

    def load_model():
        if not cached:
            cached["model"] = load_policy(cfg.policy.name_or_path, dtype=cfg.policy.dtype)
        return cached["model"]

    common = {"group_size": cfg.loop.group_size, "sampling": cfg.sampling, "timeout": cfg.loop.verifier_timeout,
              "fallback_last_number": cfg.loop.math_last_number_fallback,
              "use_chat_template": cfg.policy.use_chat_template}
    for name, items, seed in (("unseen", held_out, 2), ("seen", train_items[:args.seen_prompts], 1),
                              ("train", train_items, 0)):
        if name in args.only or not args.only:
            buffer = sample_to_buffer(os.path.join(args.data_dir, f"{name}.jsonl"), items, load_model, seed=seed,
                                      group_prefix=name, **common)
            print(f"{name}: {len(buffer)} rows")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sample", help="sample and cache base-policy outcomes")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--train-prompts", type=int, default=512)
    p.add_argument("--seen-prompts", type=int, default=SEEN_PROMPTS,
                   help="training prompts sampled a second time, for the seen-problem held-out set")
    p.add_argument("--only", nargs="*", default=[], choices=["unseen", "seen", "train"])
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--max-batch-size", type=int, default=128, help="sequences decoded together")
    p.set_defaults(run=sample)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
