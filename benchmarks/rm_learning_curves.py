"""Learning curves of the reward model on base-policy samples: held-out ranking accuracy against the number of
training outcomes, reference-free and reference-aware, with and without hard negatives, on problems the RM has seen
and on problems it has not, split by the kind of wrong answer.

    python benchmarks/rm_learning_curves.py sample --data-dir /work/rm-data/level2 --train-prompts 512
    python benchmarks/rm_learning_curves.py fit --data-dir /work/rm-data/level2 --sizes 64 256 1024 4096 \\
        --variants free aware free+hn aware+hn --output benchmarks/rm_learning_curves/minilm.json
    python benchmarks/rm_learning_curves.py table benchmarks/rm_learning_curves/*.json

`sample` draws the study's setting (level 2, all three phrasings, 8 completions per prompt at temperature 0.7, 64
new tokens, the embedded SmolLM2-135M) once and caches it as outcome buffers
(`orchestration.bootstrap.sample_to_buffer`, resumable): `train.jsonl` (the first N training prompts),
`seen.jsonl` (fresh samples of the first 128 of them) and `unseen.jsonl` (128 prompts of the loop's own held-out
set, `data_sources.build_sources`, never trained on).
`fit` trains one RM per (size, variant, seed) on the first `size` training outcomes (whole groups, in stream order)
and scores both held-out sets; `seen` counts only the prompts inside that fit's training set. Intervals: 95% bootstrap
over groups (prompts), clipped to [0, 1]. A results file holds fits on one sample (`sample_fingerprint`, recorded
with each fit): a re-drawn sample is another sample, and `fit` refuses to mix them. `table` prints one row per fit,
then, for cells fitted with several seeds, the seeds' mean and range, and the paired per-seed differences between
variants (hard negatives with and without the reference, the reference with and without them, both against
neither). `loop-fits` (the loop's own RM schedule replayed) writes another kind of result, kept under
`benchmarks/rm_learning_curves/loop_fits/` and printed by `loop-table`; each subcommand refuses the other's files,
naming them.

    python benchmarks/rm_learning_curves.py loop-fits --data-dir /work/rm-data/level2 --reference --hard-negatives 1 \
        --seed 0 --output benchmarks/rm_learning_curves/loop_fits/minilm_sample2.json
    python benchmarks/rm_learning_curves.py loop-table benchmarks/rm_learning_curves/loop_fits/*.json
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SEEN_PROMPTS = 128


def study_config():
    from orchestration.config import load_config

    return load_config(None, ["--data.levels", "[2]", "--data.eval_size", "128"])


def sample(args) -> None:
    import torch

    from orchestration.bootstrap import check_training_only, sample_to_buffer
    from orchestration.data_sources import build_sources
    from policy.model import load_policy

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

    common = {
        "group_size": cfg.loop.group_size,
        "sampling": cfg.sampling,
        "timeout": cfg.loop.verifier_timeout,
        "fallback_last_number": cfg.loop.math_last_number_fallback,
        "use_chat_template": cfg.policy.use_chat_template,
    }
    for name, items, seed in (
        ("unseen", held_out, 2),
        ("seen", train_items[: args.seen_prompts], 1),
        ("train", train_items, 0),
    ):
        if name in args.only or not args.only:
            buffer = sample_to_buffer(
                os.path.join(args.data_dir, f"{name}.jsonl"), items, load_model, seed=seed, group_prefix=name, **common
            )
            print(f"{name}: {len(buffer)} rows")


BACKBONES = ("minilm", "smollm2-top4", "smollm2-lora")
VARIANTS = ("free", "aware", "free+hn", "aware+hn")


def read_rows(data_dir: str, name: str):
    from orchestration.buffer import OutcomeBuffer
    from verifiers.outcome import reason_has_label

    buffer = OutcomeBuffer(os.path.join(data_dir, f"{name}.jsonl"))
    return [r for r in buffer.read(range(len(buffer))) if reason_has_label(r.reason)]


def prompt_index(group: str) -> int:
    """The prompt a sample's group id names (`train:17` -> 17): a fit on `size` outcomes reads prompts < size // 8."""
    return int(group.split(":")[1])


RESULT_FIELDS = {"fit": "variant", "loop-fits": "updates"}  # a field only that subcommand's results carry


def read_results(path: str, command: str, reader: str | None = None) -> list[dict]:
    """A results JSON written by `command` (`fit` or `loop-fits`) for `reader` (default: `command` itself, which
    appends to it): the two write different rows, so a file of the other kind (or anything else) stops with its
    name and first foreign row rather than a KeyError further on."""
    import json

    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    if not isinstance(results, list):
        raise SystemExit(
            f"{path} is not a results file: `{reader or command}` takes a JSON list of `{command}` results"
        )
    field = RESULT_FIELDS[command]
    for i, r in enumerate(results):
        if not isinstance(r, dict) or field not in r:
            other = next((c for c, f in RESULT_FIELDS.items() if isinstance(r, dict) and f in r), None)
            written = f"was written by `{other}`" if other else f"has no {field!r} field"
            raise SystemExit(f"{path}, result {i} {written}: `{reader or command}` takes only `{command}` results")
    return results


def read_output(path: str, command: str, data_dir: str, sample_id: str) -> list[dict]:
    """The results `command` appends to at `path` (none if there is no file yet), refused unless every one was
    scored on the sample `sample_id` of `data_dir`: one file, one sample."""
    results = read_results(path, command) if os.path.exists(path) else []
    other = {sample_of(r) for r in results} - {sample_id}
    if other:
        raise SystemExit(
            f"{path} holds results on another sample ({', '.join(sorted(other))}; {data_dir} is "
            f"{sample_id}): one file, one sample. Write these results to another --output."
        )
    return results


def results_by_table(paths: list[str], command: str, reader: str) -> dict[tuple[str, str], list[dict]]:
    """The `command` results in `paths`, grouped per (backbone, sample): one table each."""
    tables: dict[tuple[str, str], list[dict]] = {}
    for path in paths:
        for r in read_results(path, command, reader=reader):
            tables.setdefault((r["backbone"], sample_of(r)), []).append(r)
    return tables


def sample_of(result: dict) -> str:
    """The sample a result was scored on (`sample_fingerprint`); results from before it was recorded share one."""
    return result.get("sample", "not recorded")


def build_rm(backbone: str, reference: bool, seed: int, max_length: int):
    """A fresh RM on `backbone` (its trainer settings: `backbone_settings`)."""
    from reward_model import ScalarRewardModel

    if backbone == "minilm":
        return ScalarRewardModel.from_encoder(None, max_length=max_length, seed=seed, reference=reference)
    from policy.model import cached_gguf_checkpoint, embedded_gguf_path

    path = str(cached_gguf_checkpoint(embedded_gguf_path()))  # the policy's own SmolLM2-135M, as a plain backbone
    lora = {"r": 16, "alpha": 32.0} if backbone == "smollm2-lora" else None
    return ScalarRewardModel.from_encoder(path, max_length=max_length, seed=seed, reference=reference, lora=lora)


def backbone_settings(backbone: str) -> dict:
    """The trainer settings `backbone` needs: `trainable_layers` for the SmolLM2 top-4 variant."""
    return {"trainable_layers": 4} if backbone == "smollm2-top4" else {}


FIT_CONFIG_FIELDS = ("epochs", "min_steps", "batch_size", "lr_encoder", "lr_head", "trainable_layers")


def trainer_config(**settings):
    """An RMTrainConfig of `settings` that fits every record given: no validation split, no early stop, no bar."""
    from reward_model.trainer import RMTrainConfig

    return RMTrainConfig(val_fraction=0.0, early_stop_patience=0, progress_bar=False, **settings)


def fit_config(args, backbone: str, seed: int):
    """The trainer config `fit` fits `backbone` with (MiniLM's learning rates or the SmolLM2 ones)."""
    lrs = (
        {"lr_encoder": args.lr_encoder, "lr_head": args.lr_head}
        if backbone == "minilm"
        else {"lr_encoder": args.lm_lr_encoder, "lr_head": args.lm_lr_head}
    )
    return trainer_config(
        epochs=args.epochs,
        min_steps=args.min_steps,
        batch_size=args.batch_size,
        seed=seed,
        **lrs,
        **backbone_settings(backbone),
    )


def planned_fit(args, backbone: str, variant: str, size: int, seed: int) -> dict:
    """What a `fit` result of these settings records of its cell (`cell_of`), before anything is fitted."""
    cfg = fit_config(args, backbone, seed)
    return {
        "backbone": backbone,
        "variant": variant,
        "size": size,
        "seed": seed,
        "rewrites_per_correct": args.hard_negatives if variant.endswith("+hn") else 0,
        "config": {k: getattr(cfg, k) for k in FIT_CONFIG_FIELDS},
    }


def fit_one(args, rows, seen_rows, unseen_rows, backbone: str, variant: str, size: int, seed: int) -> dict:
    """One RM on the first `size` training outcomes; its figures on the seen and unseen held-out sets. `seed` sets
    the head's (and LoRA's) initialisation, the batch order and the hard-negative rewrites; the outcomes are the
    same for every seed, so seeds measure how much one fit's figure owes to chance in the fit."""
    import random
    import time

    from orchestration.bootstrap import ranking_report
    from orchestration.hard_negatives import hard_negative_pairs
    from orchestration.online_rm import outcome_records
    from reward_model.trainer import RMTrainer

    reference, with_hn = variant.startswith("aware"), variant.endswith("+hn")
    train_rows = [r for r in rows if prompt_index(r.group) < size // 8]
    records = outcome_records(train_rows)
    pairs, kinds = [], {}
    if with_hn:
        pairs, kinds = hard_negative_pairs(records, args.hard_negatives, random.Random(f"{seed}:hn:{size}"))
    rm = build_rm(backbone, reference, seed, args.max_length)
    cfg = fit_config(args, backbone, seed)
    start = time.perf_counter()
    fit = RMTrainer(rm, cfg).fit(records, pairs=pairs)
    seconds = time.perf_counter() - start

    def report(held):
        refs = [r.reference for r in held] if reference else None
        return ranking_report(
            rm.score([r.prompt for r in held], [r.response for r in held], batch_size=64, references=refs),
            held,
            seed=seed,
        )

    seen = [r for r in seen_rows if prompt_index(r.group) < size // 8]
    return {
        **planned_fit(args, backbone, variant, size, seed),
        "records": len(records),
        "train_prompts": size // 8,
        "hard_negatives": len(pairs),
        "hard_negative_kinds": dict(kinds),
        "fit": {k: v for k, v in fit.items() if isinstance(v, (int, float))},
        "fit_seconds": seconds,
        "unseen": report(unseen_rows),
        "seen": report(seen),
    }


def sample_fingerprint(data_dir: str) -> str:
    """The first 12 hex digits of the SHA-256 of the held-out sets (`seen.jsonl`, `unseen.jsonl`): fits scored on
    one sample share it. A re-drawn sample need not be the same sample (the 2026-12-05 one was not: 929 unseen
    pairs against 1082); a longer `train.jsonl` (sampling resumed with more prompts) keeps it, and each fit records
    the hash of the training rows it read (`train_fingerprint`)."""
    import hashlib

    digest = hashlib.sha256()
    for name in ("seen", "unseen"):
        with open(os.path.join(data_dir, f"{name}.jsonl"), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def train_fingerprint(data_dir: str, prompts: int) -> str:
    """The same hash over the lines of `train.jsonl` whose group lies among the first `prompts` prompts."""
    import hashlib
    import json

    digest = hashlib.sha256()
    with open(os.path.join(data_dir, "train.jsonl"), "rb") as f:
        for line in f:
            if line.strip() and prompt_index(json.loads(line)["group"]) < prompts:
                digest.update(line)
    return digest.hexdigest()[:12]


def seed_of(result: dict) -> int:
    """The seed a `fit` result was fitted with; results from before it was recorded ran with the default, 0."""
    return result.get("seed", 0)


def fit(args) -> None:
    """Every (backbone, cell, seed) not yet in --output, appended as it finishes (a rerun continues; a cell is the
    variant, size and trainer config, `cell_of`, so other epochs or learning rates fit anew). Fits recorded before
    seeds were recorded ran with seed 0."""
    import json

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    sample_id = sample_fingerprint(args.data_dir)
    results = read_output(args.output, "fit", args.data_dir, sample_id)
    done = {(r["backbone"], *cell_of(r), seed_of(r)) for r in results}
    rows = read_rows(args.data_dir, "train")
    seen_rows, unseen_rows = read_rows(args.data_dir, "seen"), read_rows(args.data_dir, "unseen")
    train_prompts = 1 + max(prompt_index(r.group) for r in rows)
    fingerprints: dict[int, str] = {}  # size -> train_fingerprint, one read of train.jsonl per size
    for backbone in args.backbones:
        for size in args.sizes:
            if size // 8 > train_prompts:
                print(f"skipping size {size}: {args.data_dir}/train.jsonl holds fewer outcomes")
                continue
            for variant, seed in itertools.product(args.variants, args.seeds):
                if (backbone, *cell_of(planned_fit(args, backbone, variant, size, seed)), seed) in done:
                    continue
                if size not in fingerprints:
                    fingerprints[size] = train_fingerprint(args.data_dir, size // 8)
                result = {
                    "sample": sample_id,
                    "train_fingerprint": fingerprints[size],
                    **fit_one(args, rows, seen_rows, unseen_rows, backbone, variant, size, seed),
                }
                results.append(result)
                os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
                with open(args.output, "w", encoding="utf-8") as f:
                    json.dump(_json_safe(results), f, indent=1)
                u, s = result["unseen"], result["seen"]
                print(
                    f"{backbone} {variant:>8} {size:>5} seed {seed}: unseen {u['ranking_accuracy']:.3f} "
                    f"[{u['interval'][0]:.3f}, {u['interval'][1]:.3f}] seen {s['ranking_accuracy']:.3f} | train "
                    f"loss {result['fit'].get('train_loss', float('nan')):.3f} vs constant "
                    f"{result['fit'].get('constant_loss', float('nan')):.3f} | {result['fit_seconds']:.0f} s",
                    flush=True,
                )


def loop_fits(args) -> None:
    """The loop's RM schedule replayed on the cached training outcomes in stream order: every update trains one
    persistent RMTrainer on the next `--rows-per-update` outcomes plus a `--replay-fraction` sample of the earlier
    ones, after the current RM has scored them (the loop's held-out monitor). Prints, per update, the fit's own loss
    against the constant predictor's, and at the end the unseen set's ranking accuracy."""
    import json
    import math
    import random

    import torch

    from orchestration.bootstrap import ranking_report
    from orchestration.hard_negatives import hard_negative_pairs
    from orchestration.online_rm import outcome_records
    from reward_model.metrics import ranking_accuracy
    from reward_model.trainer import RMTrainer

    sample_id = sample_fingerprint(args.data_dir)
    if args.output:  # a file it cannot append to stops the run before the fits
        read_output(args.output, "loop-fits", args.data_dir, sample_id)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows, unseen_rows = read_rows(args.data_dir, "train"), read_rows(args.data_dir, "unseen")
    rm, extra = build_rm(args.backbone, args.reference, args.seed, args.max_length), backbone_settings(args.backbone)
    if args.trainable_layers is not None:
        extra["trainable_layers"] = args.trainable_layers
    cfg = trainer_config(
        epochs=args.epochs,
        min_steps=args.min_steps,
        lr_encoder=args.lr_encoder,
        lr_head=args.lr_head,
        seed=args.seed,
        **extra,
    )
    trainer, history, updates = RMTrainer(rm, cfg), [], []
    refs = (lambda rs: [r.reference for r in rs]) if args.reference else (lambda rs: None)
    for u in range(args.updates):
        new = rows[u * args.rows_per_update : (u + 1) * args.rows_per_update]
        heldout = math.nan
        if u:  # the loop's monitor: the RM scores the batch before it trains on it
            scores = rm.score([r.prompt for r in new], [r.response for r in new], references=refs(new))
            heldout = ranking_accuracy(scores, [r.outcome for r in new], [r.group for r in new])[0]
        n_replay = min(len(history), math.ceil(args.replay_fraction * len(history)))
        replay = random.Random(f"{args.seed}:replay:{u}").sample(history, n_replay)
        records, replay_records = outcome_records(new), outcome_records(replay)
        pairs = (
            hard_negative_pairs(records + replay_records, args.hard_negatives, random.Random(f"{args.seed}:hn:{u}"))[0]
            if args.hard_negatives
            else []
        )
        fit = trainer.fit(records, replay=replay_records, pairs=pairs)
        history += new
        updates.append(
            {
                "update": u + 1,
                "heldout_before_fit": heldout,
                **{
                    k: fit.get(k)
                    for k in (
                        "steps",
                        "loss",
                        "train_loss",
                        "constant_loss",
                        "train_ranking_accuracy",
                        "train_accuracy",
                        "hard_negatives",
                        "seconds",
                    )
                },
            }
        )
        print(json.dumps(_json_safe(updates[-1])), flush=True)
    unseen = ranking_report(
        rm.score([r.prompt for r in unseen_rows], [r.response for r in unseen_rows], references=refs(unseen_rows)),
        unseen_rows,
        seed=args.seed,
    )
    result = {
        "sample": sample_id,
        "backbone": args.backbone,
        "seed": args.seed,
        "reference": args.reference,
        "config": {k: getattr(cfg, k) for k in ("epochs", "min_steps", "lr_encoder", "lr_head", "trainable_layers")},
        "rows_per_update": args.rows_per_update,
        "replay_fraction": args.replay_fraction,
        "hard_negatives": args.hard_negatives,
        "updates": updates,
        "unseen": unseen,
    }
    print(
        f"unseen ranking accuracy after {args.updates} updates: {unseen['ranking_accuracy']:.3f} "
        f"[{unseen['interval'][0]:.3f}, {unseen['interval'][1]:.3f}]"
    )
    if args.output:
        results = read_output(args.output, "loop-fits", args.data_dir, sample_id)
        results.append(_json_safe(result))
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)


KIND_COLUMNS = ("near_miss", "other_operation", "implausible", "no_answer", "non_integer", "truncated")


def _cell(figures: dict | None) -> str:
    if not figures or figures.get("ranking_accuracy") is None:
        return "–"
    low, high = figures["interval"]
    return f"{figures['ranking_accuracy']:.3f} [{low:.2f}, {high:.2f}]"


def _spread(fits: list[dict], get) -> str:
    """`get` over the fits: their mean [min, max], or – where a fit lacks the figure."""
    values = [get(r) for r in fits]
    if any(v is None for v in values):
        return "–"
    return f"{sum(values) / len(values):.3f} [{min(values):.2f}, {max(values):.2f}]"


def variant_of(result: dict) -> str:
    """A fit's variant, with its hard-negative rewrites per correct outcome where there were more than one
    (`aware+hn×2`); fits from before the count was recorded ran with one."""
    rewrites = result.get("rewrites_per_correct", 1)
    return result["variant"] + (f"×{rewrites}" if rewrites > 1 else "")


def cell_of(result: dict) -> tuple[str, int, str]:
    """A fit's cell: (variant, size, trainer config). Fits with other epochs or learning rates are other cells, and
    so are fits with another number of hard negatives per correct outcome (`variant_of`)."""
    import json

    return variant_of(result), result["size"], json.dumps(result.get("config"), sort_keys=True)


def seed_summary(rows: list[dict]) -> list[str]:
    """Markdown rows, one per cell fitted with more than one seed: the mean of the seeds' figures and their range
    (min, max), for unseen problems, near misses and seen problems, per cell (`cell_of`)."""
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        cells.setdefault(cell_of(r), []).append(r)
    lines = []
    for (variant, _, _), fits in cells.items():
        if len({seed_of(r) for r in fits}) < 2:
            continue
        lines.append(
            f"| {variant} | {fits[0]['records']} | {fits[0]['fit'].get('steps', float('nan')):.0f} | "
            f"{', '.join(str(seed_of(r)) for r in fits)} | "
            + " | ".join(
                (
                    _spread(fits, lambda r: r["unseen"]["ranking_accuracy"]),
                    _spread(fits, lambda r: (r["unseen"]["by_kind"].get("near_miss") or {}).get("ranking_accuracy")),
                    _spread(fits, lambda r: r["seen"].get("ranking_accuracy")),
                    " ".join(f"{r['unseen']['ranking_accuracy']:.3f}" for r in fits),
                )
            )
            + " |"
        )
    return lines


# (a, b): a's unseen ranking accuracy minus b's, fitted on the same outcomes with the same seed and trainer config
CONTRASTS = (
    ("aware+hn", "aware"),
    ("free+hn", "free"),
    ("aware", "free"),
    ("aware+hn", "free+hn"),
    ("aware+hn", "free"),
)


def paired_differences(rows: list[dict]) -> list[str]:
    """Markdown rows, one per (contrast, size) with at least one seed fitted in both variants: the per-seed
    differences of unseen ranking accuracy (a - b, same outcomes, seed and trainer config), their mean and range.
    Seeds fitted in only one of the two variants are left out, never compared across seeds."""
    by_key = {(*cell_of(r), seed_of(r)): r for r in rows}
    cells: dict[tuple, list[tuple[int, float]]] = {}
    for a, b in CONTRASTS:
        for (variant, size, config, seed), fit_a in by_key.items():
            fit_b = by_key.get((b, size, config, seed))
            if variant != a or fit_b is None:
                continue
            difference = fit_a["unseen"]["ranking_accuracy"] - fit_b["unseen"]["ranking_accuracy"]
            cells.setdefault((a, b, size, fit_a["records"], config), []).append((seed, difference))
    lines = []
    for (a, b, _, records, _), pairs in sorted(
        cells.items(), key=lambda item: (CONTRASTS.index(item[0][:2]), *item[0][2:])
    ):
        pairs.sort()
        values = [d for _, d in pairs]
        lines.append(
            f"| {a} − {b} | {records} | {', '.join(str(s) for s, _ in pairs)} | "
            f"{sum(values) / len(values):+.3f} [{min(values):+.3f}, {max(values):+.3f}] | "
            + " ".join(f"{d:+.3f}" for d in values)
            + " |"
        )
    return lines


def print_seed_tables(title: str, fits: list[dict]) -> None:
    """Under `title`, the seeds' summary of each cell fitted with several seeds (`seed_summary`) and the paired
    per-seed differences between variants (`paired_differences`), each where there is one."""
    summary = seed_summary(fits)
    if summary:
        print(f"\n{title}, across fit seeds: mean of the seeds [min, max]\n")
        print("| variant | outcomes | optimizer steps | seeds | unseen | unseen near_miss | seen | unseen per seed |")
        print("|---" * 8 + "|")
        print("\n".join(summary))
    paired = paired_differences(fits)
    if paired:
        print(
            f"\n{title}, paired per-seed differences of unseen ranking accuracy (same outcomes, seed and trainer "
            "config)\n"
        )
        print("| contrast | outcomes | seeds | mean [min, max] | per seed |")
        print("|---" * 5 + "|")
        print("\n".join(paired))


def table(args) -> None:
    """Markdown tables of `fit` results: per backbone, one row per (variant, size, seed), then one row per cell
    fitted with several seeds (`seed_summary`), then the paired per-seed differences between variants
    (`paired_differences`)."""

    for (backbone, sample_id), rows in results_by_table(args.results, "fit", "table").items():
        rows.sort(key=lambda r: (VARIANTS.index(r["variant"]), r["size"], seed_of(r)))
        print(
            f"\n**{backbone}**, sample {sample_id} (held-out ranking accuracy, 95% bootstrap interval over prompts)\n"
        )
        print(
            "| variant | outcomes | seed | seen | unseen | "
            + " | ".join(f"unseen {k}" for k in KIND_COLUMNS)
            + " | train loss / constant | optimizer steps | fit s |"
        )
        print("|---" * (8 + len(KIND_COLUMNS)) + "|")
        for r in rows:
            kinds = r["unseen"]["by_kind"]
            fit = r["fit"]
            print(
                f"| {variant_of(r)} | {r['records']} | {seed_of(r)} | {_cell(r['seen'])} | {_cell(r['unseen'])} | "
                + " | ".join(_cell(kinds.get(k)) for k in KIND_COLUMNS)
                + f" | {fit.get('train_loss', float('nan')):.3f} / {fit.get('constant_loss', float('nan')):.3f} | "
                f"{fit.get('steps', float('nan')):.0f} | {r['fit_seconds']:.0f} |"
            )
        first = rows[0]["unseen"]
        cues = first["baselines"]
        print(
            f"\nSurface cues on the same unseen pairs: shorter is better {cues['shorter_is_better']:.3f}, "
            f"not truncated is better {cues['not_truncated_is_better']:.3f} "
            f"({first['n_pairs']} pairs, {first['n_groups']} prompts)."
        )
        print_seed_tables(f"**{backbone}**, sample {sample_id}", rows)


def loop_variant(result: dict) -> str:
    """A `loop-fits` result's variant in `fit`'s names: reference-free or -aware, with or without hard negatives."""
    return ("aware" if result["reference"] else "free") + ("+hn" if result["hard_negatives"] else "")


def rows_per_update(result: dict) -> int:
    """A `loop-fits` result's new outcomes per update (results from before it was recorded ran with the default)."""
    return result.get("rows_per_update", 64)


def as_fit(result: dict) -> dict:
    """A `loop-fits` result in the shape `seed_summary` and `paired_differences` read: its outcomes are every
    update's new rows (`rows_per_update`), its optimizer steps those of all updates, its trainer config the fit's
    with the replay fraction, its variant's hard negatives per correct outcome the run's; it has no seen set."""
    updates = result["updates"]
    records = rows_per_update(result) * len(updates)
    return {
        "variant": loop_variant(result),
        "rewrites_per_correct": result["hard_negatives"],
        "size": records,
        "records": records,
        "seed": seed_of(result),
        "config": {**result["config"], "replay_fraction": result["replay_fraction"]},
        "fit": {"steps": sum(u.get("steps") or 0 for u in updates)},
        "seen": {},
        "unseen": result["unseen"],
    }


def fit_below_constant(update: dict) -> bool:
    """Whether an update's fit ended below the constant predictor's loss on its rows (False where either is
    missing: a fit that did not run)."""
    loss, constant = update.get("train_loss"), update.get("constant_loss")
    return loss is not None and constant is not None and loss < constant


def loop_table(args) -> None:
    """Markdown tables of `loop-fits` results: per backbone and sample, one row per replayed run (its fit, the
    optimizer steps of each update, the updates whose fit ended below the constant predictor's loss, the monitor's
    held-out accuracy before each fit, the last RM on the unseen set), then the seeds' summary and the paired
    per-seed differences, as `table` prints them."""
    import json

    for (backbone, sample_id), rows in results_by_table(args.results, "loop-fits", "loop-table").items():
        rows.sort(key=lambda r: (VARIANTS.index(loop_variant(r)), json.dumps(r["config"], sort_keys=True), seed_of(r)))
        print(f"\n**{backbone}**, sample {sample_id}, the loop's RM schedule replayed (`loop-fits`)\n")
        print(
            "| variant | hard negatives | seed | updates × new outcomes | epochs | min steps | lr encoder / head "
            "| optimizer steps per update | fit below constant | held-out before fit, mean | last RM, unseen "
            "| unseen near_miss |"
        )
        print("|---" * 12 + "|")
        for r in rows:
            updates, config = r["updates"], r["config"]
            step_counts = [u.get("steps") or 0 for u in updates]
            fewest, most = min(step_counts), max(step_counts)
            steps = f"{fewest:.0f}" if fewest == most else f"{fewest:.0f}–{most:.0f}"
            below = [u for u in updates if fit_below_constant(u)]
            heldout = [u["heldout_before_fit"] for u in updates if u.get("heldout_before_fit") is not None]
            monitor = f"{sum(heldout) / len(heldout):.3f}" if heldout else "–"
            print(
                f"| {loop_variant(r)} | {r['hard_negatives']} | {seed_of(r)} | "
                f"{len(updates)} × {rows_per_update(r)} | {config['epochs']} | {config['min_steps']} | "
                f"{config['lr_encoder']:g} / {config['lr_head']:g} | {steps} | "
                f"{len(below)} of {len(updates)} | {monitor} | {_cell(r['unseen'])} | "
                f"{_cell(r['unseen']['by_kind'].get('near_miss'))} |"
            )
        print_seed_tables(f"**{backbone}**, sample {sample_id}, `loop-fits`", [as_fit(r) for r in rows])


def _json_safe(value):
    import math

    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sample", help="sample and cache base-policy outcomes")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--train-prompts", type=int, default=512)
    p.add_argument(
        "--seen-prompts",
        type=int,
        default=SEEN_PROMPTS,
        help="training prompts sampled a second time, for the seen-problem held-out set",
    )
    p.add_argument("--only", nargs="*", default=[], choices=["unseen", "seen", "train"])
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--max-batch-size", type=int, default=128, help="sequences decoded together")
    p.set_defaults(run=sample)
    p = sub.add_parser("fit", help="fit RMs on growing training sets and score the held-out sets")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--output", required=True, help="results JSON (appended to: a rerun skips what it holds)")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024, 4096])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--backbones", nargs="+", default=["minilm"], choices=BACKBONES)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--min-steps", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr-encoder", type=float, default=5e-5)
    p.add_argument("--lr-head", type=float, default=1e-3)
    p.add_argument("--lm-lr-encoder", type=float, default=1e-5, help="SmolLM2 backbones' encoder learning rate")
    p.add_argument("--lm-lr-head", type=float, default=1e-4, help="SmolLM2 backbones' head learning rate")
    p.add_argument("--hard-negatives", type=int, default=1, help="rewrites per correct outcome in +hn variants")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument(
        "--seeds",
        "--seed",
        type=int,
        nargs="+",
        default=[0],
        help="fit seeds: each (variant, size) is fitted once per seed on the same outcomes",
    )
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(run=fit)
    p = sub.add_parser("loop-fits", help="replay the loop's RM update schedule on the cached outcomes")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--output", default=None, help="results JSON to append to")
    p.add_argument("--backbone", default="minilm", choices=BACKBONES)
    p.add_argument("--reference", action="store_true")
    p.add_argument("--updates", type=int, default=8, help="RM updates (8 x 64 outcomes = a 16-step study run)")
    p.add_argument("--rows-per-update", type=int, default=64)
    p.add_argument("--replay-fraction", type=float, default=0.1)
    p.add_argument("--hard-negatives", type=int, default=0)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--min-steps", type=int, default=0)
    p.add_argument("--lr-encoder", type=float, default=5e-5)
    p.add_argument("--lr-head", type=float, default=1e-3)
    p.add_argument("--trainable-layers", type=int, default=None)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(run=loop_fits)
    p = sub.add_parser("table", help="markdown tables of fit results")
    p.add_argument("results", nargs="+")
    p.set_defaults(run=table)
    p = sub.add_parser("loop-table", help="markdown tables of loop-fits results")
    p.add_argument("results", nargs="+")
    p.set_defaults(run=loop_table)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
