"""Warm start for the reward model: sample the policy on training prompts (never held-out ones), verify, write the
outcomes in the buffer's format, fit an RM on them, report its ranking accuracy on problems it did not train on,
split by the kind of wrong answer, and save it for `rm.init_from`.

    python -m orchestration.bootstrap --output-dir rm_warm --prompts 256 --data.levels "[2]" [--rm.reference true]
    python orchestration/train_loop.py --data.levels "[2]" --rm.init_from rm_warm/rm ...

Any loop key (`--config FILE.yaml`, `--section.key value`) sets the data, the policy, the sampling and the RM as the
loop would: the warm-start RM is the RM the loop would have built (`rm.encoder`, `rm.reference`, `rm.lora`, ...)
trained with `rm.train` (and `rm.hard_negatives`). DIR gets:

    outcomes.jsonl   one `OutcomeRow` per completion (the loop's buffer format, gold answer in `reference`); sampling
                     resumes where it stopped, so re-running the command never samples a prompt twice
    rm/              the fitted RM (`ScalarRewardModel.from_pretrained`; its reward_model.json `origin` names this run)
    bootstrap.json   the report: what was sampled, the fit, held-out ranking accuracy overall and by kind (with a
                     95% interval over problems), the same pairs ranked by two surface cues

The report's held-out problems are training-split problems (the loop's held-out set is never sampled) that a hash
keeps out of the fit (`--val-fraction`). Kinds of wrong answer (`orchestration.hard_negatives.wrong_kind`):
near_miss (within 2, a digit swap or the sign), other_operation (what another operation on the question's numbers
gives), implausible (any other answer), no_answer, truncated.
"""

from __future__ import annotations

import argparse
import json
import os
import random

from orchestration.buffer import OutcomeBuffer, OutcomeRow
from orchestration.rewards import prompt_text, verify
from orchestration.tasks import TaskItem

SAMPLE_BATCH_PROMPTS = 16  # prompts per sampling call: 128 completions of 8, a few GiB at most


def problem_key(item: TaskItem) -> str:
    """The phrasing-free key that decides a built-in problem's split (`arithmetic.split_of`); a data file's item id."""
    for prefix in ("arith-", "multistep-"):
        if item.id.startswith(prefix):
            key = item.id[len(prefix) :]
            phrasing = item.meta.get("phrasing", "bare")
            return key[: -len(phrasing) - 1] if phrasing != "bare" and key.endswith(f"-{phrasing}") else key
    return item.id


def check_training_only(items: list[TaskItem], held_out: list[TaskItem], data) -> None:
    """Refuse any item of the held-out split: a built-in problem whose key hashes to it (`split_of`, as the loop
    splits), or a data-file item that is among the held-out items (by id or prompt)."""
    from orchestration.arithmetic import split_of

    held_ids, held_prompts = {problem_key(i) for i in held_out}, {str(i.prompt) for i in held_out}
    for item in items:
        generated = item.id.startswith(("arith-", "multistep-"))
        if generated and split_of(problem_key(item), data.eval_fraction) != "train":
            raise AssertionError(
                f"bootstrap: {item.id} belongs to the held-out split (data.eval_fraction="
                f"{data.eval_fraction}); the warm start samples training prompts only"
            )
        if problem_key(item) in held_ids or str(item.prompt) in held_prompts:
            raise AssertionError(
                f"bootstrap: {item.id} is a held-out item; the warm start samples training prompts only"
            )


def labelled_items(source, n: int) -> list[TaskItem]:
    """The first `n` items of the training stream that a rule can judge: prompts without an answer
    (`data.unlabelled`) are skipped, as they would teach the RM nothing."""
    items = []
    for index in range(1000 * n):
        item = source.item(index)
        if item.verifier != "none":
            items.append(item)
        if len(items) == n:
            return items
    raise ValueError(f"bootstrap: fewer than {n} prompts with an answer among the first {1000 * n} of the stream")


def sample_rows(
    model,
    tokenizer,
    items: list[TaskItem],
    group_size: int,
    sampling,
    *,
    seed: int,
    timeout: float,
    fallback_last_number: bool = True,
    use_chat_template: bool = True,
    group_prefix: str = "bootstrap",
    first_index: int = 0,
) -> list[OutcomeRow]:
    """`group_size` completions of each item, verified, as outcome rows (group `{group_prefix}:{index}`; the gold
    answer in `reference`; `truncated` from the sampler)."""
    from policy.sampling import chat_prompts, sample_groups

    prompts = chat_prompts(tokenizer, [item.prompt for item in items], use_chat_template)
    rollouts = sample_groups(model, tokenizer, prompts, group_size, sampling, seed=seed)
    expanded = [item for item in items for _ in range(group_size)]
    truncated = rollouts.truncated.tolist()
    outcomes = verify(
        expanded, rollouts.texts, timeout=timeout, fallback_last_number=fallback_last_number, truncated=truncated
    )
    return [
        OutcomeRow(
            step=0,
            task_id=item.id,
            group=f"{group_prefix}:{first_index + i // group_size}",
            prompt=prompt_text(item),
            response=text,
            outcome=o.score,
            correct=o.correct,
            reason=o.reason[:200],
            verifier=item.verifier,
            reference=item.gold,
            truncated=bool(cut),
        )
        for i, (item, text, o, cut) in enumerate(zip(expanded, rollouts.texts, outcomes, truncated))
    ]


def sample_to_buffer(
    path: str,
    items: list[TaskItem],
    load_model,
    group_size: int,
    sampling,
    *,
    seed: int,
    timeout: float,
    fallback_last_number: bool = True,
    use_chat_template: bool = True,
    group_prefix: str = "bootstrap",
    batch_prompts: int = SAMPLE_BATCH_PROMPTS,
    progress: bool = True,
) -> OutcomeBuffer:
    """Sample every item into the buffer at `path`, `batch_prompts` at a time, each batch appended (and fsynced) as
    it is done; a buffer already holding the first items' rows continues after them, and one holding other rows is
    refused. `load_model()` -> (model, tokenizer), called only when something is left to sample."""
    from tqdm.auto import tqdm

    buffer = OutcomeBuffer(path)
    done, rest = divmod(len(buffer), group_size)
    if rest or done > len(items):
        raise ValueError(
            f"{path} holds {len(buffer)} rows, not whole groups of {group_size} for at most "
            f"{len(items)} prompts: it was written with other settings; use another output directory"
        )
    if done:
        first = buffer.read([0])[0]
        if first.task_id != items[0].id:
            raise ValueError(
                f"{path} starts with task {first.task_id}, not {items[0].id}: it was sampled from "
                "other prompts (another seed or data setting); use another output directory"
            )
    if done == len(items):
        return buffer
    model, tokenizer = load_model()
    model.eval()
    with tqdm(total=len(items), initial=done, desc="sampling", dynamic_ncols=True, disable=not progress) as bar:
        for start in range(done, len(items), batch_prompts):
            chunk = items[start : start + batch_prompts]
            chunk_seed = random.Random(f"{seed}:{group_prefix}:{start}").getrandbits(31)
            buffer.append(
                sample_rows(
                    model,
                    tokenizer,
                    chunk,
                    group_size,
                    sampling,
                    seed=chunk_seed,
                    timeout=timeout,
                    fallback_last_number=fallback_last_number,
                    use_chat_template=use_chat_template,
                    group_prefix=group_prefix,
                    first_index=start,
                )
            )
            bar.update(len(chunk))
    return buffer


# ---------------------------------------------------------------------------------------- fit and report


def report_problems(items: list[TaskItem], val_fraction: float) -> set[str]:
    """The problems (`problem_key`) kept out of the fit for the report: a hash picks `val_fraction` of them."""
    from orchestration.arithmetic import split_of

    return {problem_key(item) for item in items if split_of(f"rm-report:{problem_key(item)}", val_fraction) == "test"}


def ranking_report(scores, rows: list[OutcomeRow], seed: int = 0) -> dict:
    """Within-group ranking accuracy of `scores` (one per row) against the rows' verified outcomes, with a 95%
    bootstrap interval over groups; the same per kind of the pair's wrong answer (`hard_negatives.wrong_kind`); and
    on the same pairs two surface cues as scorers: shorter is better, not truncated is better."""
    import numpy as np

    from orchestration.hard_negatives import wrong_kind
    from reward_model.metrics import pair_indices, pairwise_accuracy, pairwise_accuracy_interval

    scores = np.asarray(scores, dtype=np.float64)
    better, worse = pair_indices([r.outcome for r in rows], [r.group for r in rows])
    pair_groups = [rows[i].group for i in better.tolist()]
    kinds = np.asarray(
        [
            wrong_kind(rows[i].response, rows[i].reference or "", rows[i].prompt, bool(rows[i].truncated))
            for i in worse.tolist()
        ]
    )

    def figures(score, picked=None) -> dict:
        b, w = (better, worse) if picked is None else (better[picked], worse[picked])
        groups = pair_groups if picked is None else [g for g, p in zip(pair_groups, picked) if p]
        accuracy, n = pairwise_accuracy(score[b], score[w])
        low, high = pairwise_accuracy_interval(score[b], score[w], groups, seed=seed)
        return {"ranking_accuracy": accuracy, "interval": [low, high], "n_pairs": n}

    shorter = -np.asarray([len(r.response) for r in rows], dtype=np.float64)
    complete = -np.asarray([float(bool(r.truncated)) for r in rows])
    return {
        **figures(scores),
        "n_rows": len(rows),
        "n_groups": len({r.group for r in rows}),
        "by_kind": {kind: figures(scores, kinds == kind) for kind in sorted(set(kinds.tolist()))},
        "baselines": {
            "shorter_is_better": figures(shorter)["ranking_accuracy"],
            "not_truncated_is_better": figures(complete)["ranking_accuracy"],
        },
    }


def fit_warm_start(cfg, fit_rows: list[OutcomeRow], seed: int, accelerator=None):
    """The RM the loop would build (`rm.*`, an `OnlineRM`'s first fit) trained on `fit_rows`, with
    `rm.hard_negatives` rewrites of their correct completions. Returns (model, the fit's metrics, kinds count)."""
    from accelerate import Accelerator

    from orchestration.hard_negatives import hard_negative_pairs
    from orchestration.online_rm import OnlineRM, outcome_records

    records = outcome_records(fit_rows)
    pairs, kinds = [], {}
    if cfg.rm.hard_negatives:
        pairs, kinds = hard_negative_pairs(
            records,
            cfg.rm.hard_negatives,
            random.Random(f"{seed}:hard-negatives"),
            fallback_last_number=cfg.loop.math_last_number_fallback,
        )
    rm = OnlineRM(cfg.rm, seed, accelerator or Accelerator(cpu=True), policy=cfg.policy.name_or_path)
    metrics = rm.fit(records, replay=[], pairs=pairs)
    return rm.model, metrics, dict(kinds)


def run(cfg, output_dir: str, prompts: int, val_fraction: float = 0.2, seed: int = 0, fit: bool = True) -> dict:
    """Sample, fit, report, save (module docstring); returns the report (also DIR/bootstrap.json)."""
    from orchestration.data_sources import build_sources
    from policy.model import load_policy

    train_source, held_out = build_sources(cfg.data, seed)
    items = labelled_items(train_source, prompts)
    check_training_only(items, held_out, cfg.data)
    buffer = sample_to_buffer(
        os.path.join(output_dir, "outcomes.jsonl"),
        items,
        lambda: load_policy(cfg.policy.name_or_path, dtype=cfg.policy.dtype),
        cfg.loop.group_size,
        cfg.sampling,
        seed=seed,
        timeout=cfg.loop.verifier_timeout,
        fallback_last_number=cfg.loop.math_last_number_fallback,
        use_chat_template=cfg.policy.use_chat_template,
        progress=cfg.logging.progress_bar,
    )
    rows = buffer.read(range(len(buffer)))
    report = {
        "output_dir": os.path.abspath(output_dir),
        "prompts": prompts,
        "outcomes": len(rows),
        "verified_accuracy": sum(r.correct for r in rows) / len(rows),
        "truncated_fraction": sum(bool(r.truncated) for r in rows) / len(rows),
        "data": {"source": cfg.data.source, "levels": cfg.data.levels, "phrasings": cfg.data.phrasings},
        "policy": cfg.policy.name_or_path or "embedded SmolLM2-135M-Instruct",
        "sampling": {
            "temperature": cfg.sampling.temperature,
            "max_new_tokens": cfg.sampling.max_new_tokens,
            "group_size": cfg.loop.group_size,
        },
    }
    if not fit:
        return report
    held = report_problems(items, val_fraction)
    index = {f"bootstrap:{i}": problem_key(item) for i, item in enumerate(items)}
    fit_rows = [r for r in rows if index[r.group] not in held]
    report_rows = [r for r in rows if index[r.group] in held]
    model, metrics, kinds = fit_warm_start(cfg, fit_rows, seed)
    from verifiers.outcome import reason_has_label

    judged = [r for r in report_rows if reason_has_label(r.reason)]
    scores = model.score(
        [r.prompt for r in judged],
        [r.response for r in judged],
        references=[r.reference for r in judged] if model.reference else None,
    )
    report.update(
        rm={
            "encoder": model.encoder_name,
            "reference": model.reference,
            "hard_negatives_per_correct": cfg.rm.hard_negatives,
            "hard_negative_kinds": kinds,
            "fit_rows": len(fit_rows),
            "report_rows": len(report_rows),
            "report_problems": len(held),
            "val_fraction": val_fraction,
        },
        fit={k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        heldout=ranking_report(scores, judged, seed),
    )
    model.origin = {
        "source": "bootstrap",
        "output_dir": report["output_dir"],
        "policy": report["policy"],
        "data": report["data"],
        "outcomes": len(fit_rows),
        "heldout_ranking_accuracy": report["heldout"]["ranking_accuracy"],
    }
    model.save_pretrained(os.path.join(output_dir, "rm"))
    report["rm_dir"] = os.path.join(report["output_dir"], "rm")
    with open(os.path.join(output_dir, "bootstrap.json"), "w", encoding="utf-8") as f:
        json.dump(_json_safe(report), f, indent=2)
    return report


def _json_safe(value):
    import math

    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def summary(report: dict) -> str:
    """A few lines for the terminal."""
    lines = [
        f"sampled {report['outcomes']} outcomes of {report['prompts']} training prompts: verified accuracy "
        f"{report['verified_accuracy']:.3f}, truncated {report['truncated_fraction']:.3f}"
    ]
    if "heldout" in report:
        h, fit = report["heldout"], report["fit"]
        lines.append(
            f"fit on {report['rm']['fit_rows']} outcomes ({fit.get('steps', 0):.0f} steps): train loss "
            f"{fit.get('train_loss', float('nan')):.3f} (constant {fit.get('constant_loss', float('nan')):.3f}), "
            f"train ranking accuracy {fit.get('train_ranking_accuracy', float('nan')):.3f}"
        )
        lines.append(
            f"held-out ranking accuracy {h['ranking_accuracy']:.3f} [{h['interval'][0]:.3f}, "
            f"{h['interval'][1]:.3f}] on {h['n_pairs']} pairs of {report['rm']['report_problems']} unseen "
            f"problems; shorter-is-better {h['baselines']['shorter_is_better']:.3f}"
        )
        lines += [
            f"  {kind}: {f['ranking_accuracy']:.3f} [{f['interval'][0]:.3f}, {f['interval'][1]:.3f}] "
            f"({f['n_pairs']} pairs)"
            for kind, f in h["by_kind"].items()
        ]
        lines.append(
            f"saved {report['rm_dir']}: start the loop with --rm.init_from {report['rm_dir']} "
            f"--rm.reference {str(report['rm']['reference']).lower()}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    from orchestration.config import load_config

    parser = argparse.ArgumentParser(
        prog="python -m orchestration.bootstrap",
        description=__doc__.split("\n")[0],
        epilog="Other arguments are loop config keys (--config FILE.yaml, --section.key "
        "value), as orchestration/train_loop.py takes them.",
    )
    parser.add_argument("--output-dir", required=True, help="where outcomes.jsonl, rm/ and bootstrap.json go")
    parser.add_argument("--prompts", type=int, default=256, help="training prompts to sample (group_size each)")
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="share of the sampled problems kept out of the fit, for the held-out report",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompt stream, sampling and the fit")
    parser.add_argument("--no-fit", action="store_true", help="only sample (and cache) the outcomes")
    parser.add_argument("--config", default=None, help="a loop config YAML file")
    args, overrides = parser.parse_known_args(argv)
    if args.prompts < 1 or not 0.0 < args.val_fraction < 1.0:
        parser.error("--prompts must be >= 1 and --val-fraction in (0, 1)")
    cfg = load_config(args.config, overrides)
    import transformers

    transformers.utils.logging.disable_progress_bar()  # as the loop does: a bar per model load in the warm start's log
    report = run(cfg, args.output_dir, args.prompts, args.val_fraction, args.seed, fit=not args.no_fit)
    print(summary(report))
    return report


if __name__ == "__main__":
    main()
