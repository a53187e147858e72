"""Evaluate a reward model against verified outcomes, beside two trivial baselines.

    python -m reward_model.evaluate --model rm_dir --data heldout.jsonl [--train-data train.jsonl] [--by kind]
    python -m reward_model.evaluate --level step --model prm_dir --data step_labelled.jsonl

A reference-aware RM (trained with `--reference`; its reward_model.json says so) reads each row's `reference`, the
gold answer: a row without one is an error naming it. `--reference` only checks that the RM is one.

DATA holds outcome records `{prompt, response, outcome[, group]}` (pairs are built within each group, from
records whose outcomes differ) or explicit pairs `{prompt, better, worse}`. Prints one JSON object:

    ranking_accuracy  share of pairs the RM orders right; an exact tie counts 1/2 (a constant RM gets 0.5)
    n_pairs, auc      ROC AUC of score vs outcome >= 0.5 across all records (pairs: better = 1, worse = 0)
    ece               expected calibration error of sigmoid(score), for an RM trained with `bce` (else null)
    reward            mean, std, min, max of the scores; `warnings` says when they collapse or blow up
    baselines         ranking accuracy of response length (the better direction, named) and of TF-IDF +
                      logistic regression fitted on --train-data, on the same pairs
    by_tag            with --by FIELD: ranking accuracy per value of FIELD of each pair's worse response
                      (e.g. the kind of mistake), to see which failures the RM cannot tell apart

With `--level step` (a `StepRewardModel`; rows with step labels, as `reward_model.train --level step` reads):

    step_ranking_accuracy  share of (better-labelled, worse-labelled) step pairs within a group ordered right
    step_auc               ROC AUC of step score vs label >= 0.5 over every labelled step
    outcome_ranking_accuracy_{min,product}   within-group ranking of whole responses by the min / product of
                           their step scores against the outcome (the row's `outcome`, else the min of its labels)
    baselines              the same step pairs ranked by step length (better direction), and by position (later
                           steps worse: errors compound)
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np
import torch

from reward_model.baselines import TfidfBaseline, length_scores
from reward_model.data import (
    DataError,
    OutcomeRecord,
    PreferencePair,
    StepRecord,
    load_eval_rows,
    load_records,
    load_step_records,
    load_tags,
)
from reward_model.metrics import (
    auc,
    expected_calibration_error,
    labelled_steps,
    pair_indices,
    pairwise_accuracy,
    ranking_accuracy,
    reward_stats,
    step_ranking_accuracy,
)
from reward_model.model import ScalarRewardModel, saved_reference
from reward_model.step_model import AGGREGATES, aggregate_steps

COLLAPSED_STD = 1e-3  # scores this close to constant cannot rank anything
BLOWN_UP_ABS = 1e3  # scores this large saturate a sigmoid and swamp any mix with verifier rewards


def _as_scored_pairs(rows: list[OutcomeRecord] | list[PreferencePair]):
    """(prompts, responses, references, outcomes, better_idx, worse_idx): the texts to score once and the pairs
    over them."""
    if rows and isinstance(rows[0], PreferencePair):
        prompts = [p.prompt for p in rows for _ in (0, 1)]
        responses = [text for p in rows for text in (p.better, p.worse)]
        references = [p.reference for p in rows for _ in (0, 1)]
        outcomes = np.tile([1.0, 0.0], len(rows))
        better = np.arange(0, 2 * len(rows), 2)
        return prompts, responses, references, outcomes, better, better + 1
    outcomes = np.asarray([r.outcome for r in rows])
    better, worse = pair_indices(outcomes, [r.group_key for r in rows])
    return [r.prompt for r in rows], [r.response for r in rows], [r.reference for r in rows], outcomes, better, worse


def distribution_warnings(stats: dict[str, float]) -> list[str]:
    if not all(math.isfinite(v) for v in stats.values()):
        return ["non-finite reward scores: the RM has diverged"]
    if stats["std"] < COLLAPSED_STD:
        return [f"reward scores collapsed (std {stats['std']:.2g} < {COLLAPSED_STD}): the RM ranks nothing"]
    if max(abs(stats["min"]), abs(stats["max"])) > BLOWN_UP_ABS:
        return [f"reward scores blew up (|score| > {BLOWN_UP_ABS:g}): lower the learning rate or use bce/mse"]
    return []


def baselines(
    responses: list[str], better: np.ndarray, worse: np.ndarray, train_records: list[OutcomeRecord] | None
) -> dict:
    """Ranking accuracy of response length (in whichever direction is better) and, with training data, TF-IDF."""
    lengths = length_scores(responses)
    result = _length_baseline("length", pairwise_accuracy(lengths[better], lengths[worse])[0])
    result["tfidf_logreg"] = None
    if train_records:
        tfidf = TfidfBaseline().fit(train_records).score(responses)
        result["tfidf_logreg"] = pairwise_accuracy(tfidf[better], tfidf[worse])[0]
    return result


def _length_baseline(name: str, longer: float) -> dict:
    """Length as a ranker, in whichever direction is better: `longer` is the accuracy of "longer is better"."""
    return {
        name: max(longer, 1.0 - longer) if not math.isnan(longer) else longer,
        f"{name}_direction": "longer_is_better" if longer >= 0.5 else "shorter_is_better",
    }


def evaluate(
    model: ScalarRewardModel,
    records_or_pairs: list[OutcomeRecord] | list[PreferencePair],
    train_records: list[OutcomeRecord] | None = None,
    batch_size: int = 64,
    scores: torch.Tensor | None = None,
    tags: list[str | None] | None = None,
) -> dict:
    """The RM's ranking accuracy, AUC, calibration and score distribution, with baselines on the same pairs.

    `scores` (N,) may be passed when the caller has them already (then `model` is only used for its config).
    `tags` (one per record) adds `by_tag`: ranking accuracy per tag of each pair's worse record.
    """
    prompts, responses, references, outcomes, better, worse = _as_scored_pairs(records_or_pairs)
    if scores is None:
        scores = model.score(prompts, responses, batch_size=batch_size, references=references)
    s = scores.double().numpy()
    accuracy, n_pairs = pairwise_accuracy(s[better], s[worse])
    stats = reward_stats(s)
    trained_with = getattr(model, "trained_with", None)
    ece = expected_calibration_error(1.0 / (1.0 + np.exp(-s)), outcomes >= 0.5) if trained_with == "bce" else None
    result = {
        "ranking_accuracy": accuracy,
        "n_pairs": n_pairs,
        "auc": auc(s, outcomes),
        "ece": ece,
        "n_records": len(prompts),
        "reward": stats,
        "warnings": distribution_warnings(stats),
        "baselines": baselines(responses, better, worse, train_records),
        "trained_with": trained_with,
    }
    if tags is not None:
        result["by_tag"] = accuracy_by_tag(s, better, worse, tags)
    return result


def accuracy_by_tag(
    scores: np.ndarray, better: np.ndarray, worse: np.ndarray, tags: list[str | None]
) -> dict[str, dict[str, float]]:
    """{tag: {"ranking_accuracy", "n_pairs"}} over the pairs whose worse record carries that tag."""
    pair_tags = np.asarray([str(tags[w]) for w in worse.tolist()])
    result = {}
    for tag in sorted(set(pair_tags.tolist())):
        picked = pair_tags == tag
        acc, n = pairwise_accuracy(scores[better[picked]], scores[worse[picked]])
        result[tag] = {"ranking_accuracy": acc, "n_pairs": n}
    return result


def evaluate_steps(model, records: list[StepRecord], batch_size: int = 64) -> dict:
    """Step-level ranking accuracy and AUC of a `StepRewardModel`, the outcome-level accuracy of its aggregated
    step scores, and step length / position baselines on the same step pairs (module docstring)."""
    spans = [list(r.spans) for r in records]
    step_scores = model.score_steps(
        [r.prompt for r in records],
        [r.response for r in records],
        spans,
        batch_size,
        references=[r.reference for r in records],
    )
    labels, groups = [r.labels for r in records], [r.group_key for r in records]
    flat_scores, flat_labels, flat_groups = labelled_steps(step_scores, labels, groups)
    accuracy, n_pairs = ranking_accuracy(flat_scores, flat_labels, flat_groups)
    lengths = [torch.tensor([float(end - start) for start, end in r.spans]) for r in records]
    positions = [-torch.arange(len(r.spans), dtype=torch.float32) for r in records]
    result = {
        "step_ranking_accuracy": accuracy,
        "n_step_pairs": n_pairs,
        "step_auc": auc(flat_scores, flat_labels),
        "n_records": len(records),
        "n_steps": sum(len(s) for s in spans),
        "n_labelled_steps": len(flat_scores),
        "baselines": {
            **_length_baseline("step_length", step_ranking_accuracy(lengths, labels, groups)[0]),
            "position_later_is_worse": step_ranking_accuracy(positions, labels, groups)[0],
        },
    }
    outcomes = [
        r.outcome if r.outcome is not None else min((v for v in r.labels if v is not None), default=None)
        for r in records
    ]
    judged = [i for i, o in enumerate(outcomes) if o is not None]
    for how in AGGREGATES:
        scores = [aggregate_steps(step_scores[i], how).item() for i in judged]
        acc, n = ranking_accuracy(scores, [outcomes[i] for i in judged], [groups[i] for i in judged])
        result[f"outcome_ranking_accuracy_{how}"], result["n_outcome_pairs"] = acc, n
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m reward_model.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a directory written by save_pretrained / reward_model.train")
    parser.add_argument(
        "--data", required=True, help="JSONL/datasets dir: {prompt, response, outcome} or {prompt, better, worse} rows"
    )
    parser.add_argument("--train-data", default=None, help="training records, to fit the TF-IDF baseline on")
    parser.add_argument("--batch-size", type=int, default=64, help="scoring batch size")
    parser.add_argument(
        "--by",
        default=None,
        metavar="FIELD",
        help="also report ranking accuracy per value of this row field of the worse response",
    )
    parser.add_argument(
        "--level",
        choices=("outcome", "step"),
        default="outcome",
        help="step: evaluate a step-level RM on step-labelled rows (module docstring)",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="check that the RM is reference-aware (it then reads each row's 'reference' either way)",
    )
    args = parser.parse_args(argv)
    reference = saved_reference(args.model)
    if args.reference and not reference:
        raise SystemExit(
            f"error: --reference, but {args.model} is not a reference-aware RM (its reward_model.json "
            "has no reference: true): drop --reference, or train one with reward_model.train --reference"
        )
    if args.level == "step":
        return _main_steps(args, reference)
    try:
        rows = load_eval_rows(args.data, reference=reference)
        train_records = load_records(args.train_data) if args.train_data else None
        if args.by and rows and isinstance(rows[0], PreferencePair):
            raise DataError(f"{args.data}: --by needs outcome records, not better/worse pairs")
        tags = load_tags(args.data, args.by) if args.by else None
    except DataError as e:
        raise SystemExit(f"error: {e}") from e
    result = evaluate(ScalarRewardModel.from_pretrained(args.model), rows, train_records, args.batch_size, tags=tags)
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(_json_safe(result)))
    return result


def _main_steps(args, reference: bool) -> dict:
    if args.by or args.train_data:
        raise SystemExit("error: --by and --train-data are outcome-level options; --level step takes neither")
    try:
        records = load_step_records(args.data, reference=reference)
    except DataError as e:
        raise SystemExit(f"error: {e}") from e
    model = ScalarRewardModel.from_pretrained(args.model)
    if model.level != "step":
        raise SystemExit(
            f"error: {args.model} is an outcome-level RM; --level step needs one trained with "
            "`reward_model.train --level step`"
        )
    result = evaluate_steps(model, records, args.batch_size)
    print(json.dumps(_json_safe(result)))
    return result


def _json_safe(value):
    """NaN (no pairs, one class) becomes null: the output stays strict JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


if __name__ == "__main__":
    main()
