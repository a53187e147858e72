"""What a study found: per-arm means and 95% intervals over seeds, paired differences against a baseline arm,
`report.md`, `results.json` and plots (`orchestration.study_plots`).

    python -m orchestration.study_report runs/study --arms verifier rm --seeds 0 1 2   # re-draw from finished runs
                                                                 # (naming the command of its results.json;
                                                                 # without one, this command)

- Held-out accuracy: Student-t intervals over seeds (n - 1 degrees of freedom): with 3 seeds the half-width is
  2.48 standard deviations of the seeds' figures. Accuracies are clipped to [0, 1], changes to [-1, 1]: a
  t-interval over 3 seeds can reach past them, which means nothing.
- Paired differences: arms of a study share each seed's base policy and prompt stream, so `arm - baseline` per
  seed, then the t-interval of those differences, is the honest comparison (it removes what the seeds share).
  Each online arm is also set against its frozen control (`study_arms.CONTROLS`, or `--pairs ARM:CONTROL`), on
  held-out accuracy and on what the RM paid late in the run (`PAIR_FIGURES`).
- RM held-out ranking accuracy: pair-weighted (every ranked pair counts once, so a step with 2 pairs weighs less
  than one with 40) with a 95% percentile bootstrap over the steps' batches of groups (each step of each seed is
  resampled whole).
- Time: the median seconds per policy step over every step of every seed (a run's wall time mixes in its
  evaluations, and a resumed run's wall time is the last part only).
- Training samples' steps (runs on the multi-step task): the rule checker on the stored completions of the first
  and the last two policy steps (`orchestration.step_stats`): steps per completion and the share of repeated steps,
  mean and t-interval over seeds.
- Scarce labels (runs with `data.labelled_problems`): the rows whose answer was withheld, re-verified afterwards
  (`orchestration.scarce_labels.withheld_figures`), first vs last four steps, beside the reward they got.
- What an RM paid (runs an RM rewards on every row): its mean reward beside the training batches' verified
  accuracy, their difference and the RM's held-out ranking, over the first and the last `study_stats.PAID_WINDOW`
  steps it rewarded (`study_stats.paid_figures`), mean and t-interval over seeds; where a long run's hacking shows.
- Commits: every run records the commit it ran from (`study_run.json`); one table comes from one commit, so
  runs from several commits are refused unless `allow_mixed_commits`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import statistics
import sys

from orchestration.metrics import read_metrics
from orchestration.scarce_labels import withheld_figures
from orchestration.step_stats import run_step_figures
from orchestration.study_arms import ARMS, CONTROLS, data_overrides, is_finished, run_dir
from orchestration.study_stats import EVALS, PAID_WINDOW, interval, paid_figures, pair_weighted

REPORT_COMMAND = "python -m orchestration.study_report"  # how a report drawn by this module names itself

_PART_EVAL = re.compile(r"^eval/((?:greedy|sampled)_(?:accuracy_.+|format))$")


class MixedCommits(ValueError):
    """The study's runs ran from different commits."""


class NoFinishedRuns(ValueError):
    """None of the report's arms and seeds has a finished run."""


def eval_names(rows: list[dict]) -> list[str]:
    """`greedy_accuracy`, `sampled_accuracy`, then the per-part figures the runs have (per level, per phrasing:
    `greedy_accuracy_level1`, `sampled_accuracy_word`; the share in the asked format: `greedy_format`)."""
    parts = sorted({m.group(1) for r in rows for key in r for m in [_PART_EVAL.match(key)] if m})
    return [f"{name}_accuracy" for name in EVALS] + parts


def summarize_run(path: str) -> dict:
    """One run's figures from its metrics.jsonl (and study_run.json for the commits it ran from)."""
    rows = read_metrics(os.path.join(path, "metrics.jsonl"))
    run = {
        "steps": len(rows),
        "alarms": sum(1 for r in rows if r.get("rm/hacking_alarm")),
        "train_accuracy": [r.get("verifier/accuracy") for r in rows],
        "step_seconds": [r["timing/step"] for r in rows if isinstance(r.get("timing/step"), (int, float))],
    }
    for prefix in ("rm", "rm_frozen"):
        run[f"{prefix}_heldout"] = [r.get(f"{prefix}/heldout_ranking_accuracy") for r in rows]
        run[f"{prefix}_pairs"] = [r.get(f"{prefix}/heldout_pairs") or 0 for r in rows]
    data, loop = _config_section(path, "data"), _config_section(path, "loop")
    watched = _rm_reward_key(loop, data)
    run["rm_reward"] = [r.get(watched) if watched else None for r in rows]
    figures = paid_figures(run["train_accuracy"], *_rm_pay(rows, watched, data))
    if figures:
        run["paid_first"], run["paid_last"] = figures["first"], figures["last"]
    run["evals"] = eval_names(rows)
    for name in run["evals"]:
        run[f"before_{name}"] = next((r[f"eval/initial_{name}"] for r in rows if f"eval/initial_{name}" in r), None)
        run[f"after_{name}"] = next((r[f"eval/{name}"] for r in reversed(rows) if f"eval/{name}" in r), None)
    if data.get("source") == "multistep" and os.path.isfile(os.path.join(path, "outcomes.jsonl")):
        figures = run_step_figures(path)
        run["steps_first"], run["steps_last"] = figures["first"], figures["last"]
    if data.get("labelled_problems") and os.path.isfile(os.path.join(path, "outcomes.jsonl")):
        figures = withheld_figures(path, scale=_config_section(path, "grpo").get("scale", "group"))
        run["withheld_first"], run["withheld_last"] = figures["first"], figures["last"]
        run["withheld_ranking"], run["withheld_push"] = figures["ranking"], figures["push"]
    record = os.path.join(path, "study_run.json")
    saved = _read_json(record) if os.path.isfile(record) else {}
    run["commits"] = saved.get("commits", ["unknown"])
    return run


def _read_json(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _config_section(path: str, section: str) -> dict:
    """One section of the run's resolved config.yaml ({} without one)."""
    import yaml

    config = os.path.join(path, "config.yaml")
    if not os.path.isfile(config):
        return {}
    with open(config, encoding="utf-8") as f:
        return (yaml.safe_load(f) or {}).get(section) or {}


def _rm_reward_key(loop: dict, data: dict) -> str | None:
    """The metric holding the reward an RM paid each step (what the hacking alarm watches): the RM term's mean, or
    for an RM that rewards only the prompts without an answer, their mean reward; None when no RM rewards the run."""
    if loop.get("algorithm", "grpo") != "grpo":
        return None
    source = loop.get("reward_source")
    if source in ("rm", "mix", "frozen_rm"):
        return "reward/frozen_rm" if source == "frozen_rm" else "reward/rm"
    if data.get("unlabelled") and loop.get("unlabelled_reward") in ("rm", "frozen_rm"):
        return "reward/unlabelled_mean"
    return None


def _rm_pay(
    rows: list[dict], watched: str | None, data: dict
) -> tuple[list[float | None], list[tuple[float | None, int]] | None]:
    """Per step, the reward the RM paid where it rewards every row and scored the step (its held-out monitor ran,
    so the RM existed: not a verifier warm-up), None elsewhere; and that RM's held-out (ranking accuracy, pairs)
    per step (None without a paying RM). An RM that rewards only the rows without an answer is left out: the
    verified accuracy is of the other rows (the withheld table compares those)."""
    prefix = {"reward/rm": "rm", "reward/frozen_rm": "rm_frozen"}.get(watched)
    if prefix is None or data.get("labelled_problems"):
        return [None] * len(rows), None
    scored = f"{prefix}/heldout_pairs"
    return (
        [r.get(watched) if scored in r else None for r in rows],
        [(r.get(f"{prefix}/heldout_ranking_accuracy"), r.get(scored) or 0) for r in rows],
    )


STEP_COLUMNS = ("steps_per_completion", "repeated_steps")
WITHHELD_COLUMNS = ("labelled_accuracy", "accuracy", "reward", "rm_ranking")
PAID_COLUMNS = ("verified", "rm_reward", "overestimate", "rm_ranking")


def aggregate(
    runs: dict[tuple[str, int], dict],
    arms: list[str],
    seeds: list[int],
    baseline: str | None = None,
    pairs: list[tuple[str, str]] | None = None,
) -> dict:
    """Per arm: intervals over seeds of held-out accuracy before/after/change, paired differences against
    `baseline` (default: the first arm), pair-weighted RM held-out ranking accuracy (online and frozen), alarms
    and the median seconds per step. Per pair (arm, control) (default: `default_pairs`): paired differences on
    PAIR_FIGURES."""
    baseline = baseline or arms[0]
    pairs = default_pairs(arms) if pairs is None else pairs
    check_pairs(pairs, arms)

    def base(arm: str, name: str, seed: int):  # evaluated once per seed, by one arm of those with its data
        return next(
            (
                runs[a, seed].get(f"before_{name}")
                for a in arms
                if (a, seed) in runs
                and data_overrides(a) == data_overrides(arm)
                and runs[a, seed].get(f"before_{name}") is not None
            ),
            None,
        )

    table = {}
    for arm in arms:
        mine = [(seed, runs[arm, seed]) for seed in seeds if (arm, seed) in runs]
        row = {"seeds": [seed for seed, _ in mine]}
        row["evals"] = list(dict.fromkeys(name for _, r in mine for name in r["evals"]))
        before = {(name, seed): base(arm, name, seed) for name in row["evals"] for seed, _ in mine}
        for name in row["evals"]:
            row[f"before_{name}"] = interval([before[name, seed] for seed, _ in mine], (0.0, 1.0))
            row[f"after_{name}"] = interval([r.get(f"after_{name}") for _, r in mine], (0.0, 1.0))
            row[f"change_{name}"] = interval(
                [
                    r[f"after_{name}"] - before[name, seed]
                    for seed, r in mine
                    if r.get(f"after_{name}") is not None and before[name, seed] is not None
                ],
                (-1.0, 1.0),
            )
            if arm != baseline and data_overrides(arm) == data_overrides(baseline):
                paired = paired_differences(runs, arm, baseline, seeds, lambda r: r.get(f"after_{name}"))
                row[f"vs_baseline_{name}"] = interval(paired, (-1.0, 1.0))
        for prefix in ("rm", "rm_frozen"):
            units = [(acc, pairs) for _, r in mine for acc, pairs in zip(r[f"{prefix}_heldout"], r[f"{prefix}_pairs"])]
            row[f"{prefix}_heldout"] = pair_weighted(units)
        runs_of_arm = [r for _, r in mine]
        row.update(
            _first_last_intervals(
                runs_of_arm,
                "steps",
                {key: (0.0, 1.0) if key == "repeated_steps" else (0.0, math.inf) for key in STEP_COLUMNS},
            )
        )
        row.update(
            _first_last_intervals(
                runs_of_arm, "withheld", {key: None if key == "reward" else (0.0, 1.0) for key in WITHHELD_COLUMNS}
            )
        )
        row.update(
            _first_last_intervals(
                runs_of_arm, "paid", {key: (-1.0, 1.0) if key == "overestimate" else (0.0, 1.0) for key in PAID_COLUMNS}
            )
        )
        if any("withheld_first" in r for _, r in mine):
            for key in ("rm", "shorter"):
                values = [r["withheld_ranking"][key] for _, r in mine if "withheld_ranking" in r]
                row[f"withheld_ranking_{key}"] = interval(values, (0.0, 1.0))
            row["withheld_ranking_pairs"] = sum(
                r["withheld_ranking"]["pairs"] for _, r in mine if "withheld_ranking" in r
            )
        pushes = [r["withheld_push"] for _, r in mine if "withheld_push" in r]
        if pushes:
            row["withheld_push_share"] = interval([p["withheld_share"] for p in pushes], (0.0, 1.0))
            for key in ("withheld_groups", "withheld_moved", "labelled_groups", "labelled_moved"):
                row[f"withheld_push_{key}"] = sum(p[key] for p in pushes)
        row["alarms"] = sum(r["alarms"] for _, r in mine)
        steps = [s for _, r in mine for s in r["step_seconds"]]
        row["median_step_seconds"] = statistics.median(steps) if steps else math.nan
        table[arm] = row
    return {"baseline": baseline, "arms": table, "pairs": [_pair(runs, arm, control, seeds) for arm, control in pairs]}


def paired_differences(runs: dict[tuple[str, int], dict], arm: str, other: str, seeds: list[int], figure) -> list:
    """`figure(arm's run) - figure(other's run)` for each seed both ran and both have the figure (not None)."""
    return [
        figure(runs[arm, seed]) - figure(runs[other, seed])
        for seed in seeds
        if (arm, seed) in runs
        and (other, seed) in runs
        and figure(runs[arm, seed]) is not None
        and figure(runs[other, seed]) is not None
    ]


def _last(prefix: str, key: str):
    """The run's `key` figure over the last steps of its `{prefix}_last` figures (None where the run has none)."""
    return lambda r: (r.get(f"{prefix}_last") or {}).get(key)


# What a pair (an online arm and its control) is compared on: key -> (column, the run's figure, the bounds of a
# difference). The RM figures are over the last PAID_WINDOW steps an RM rewarded, the withheld rows' over the last
# four steps (summarize_run).
PAIR_FIGURES = {
    **{
        f"{name}_accuracy": (f"{name} after", lambda r, name=name: r.get(f"after_{name}_accuracy"), (-1.0, 1.0))
        for name in EVALS
    },
    "paid_last_verified": (f"training accuracy, last {PAID_WINDOW}", _last("paid", "verified"), (-1.0, 1.0)),
    "paid_last_overestimate": (f"RM over-estimate, last {PAID_WINDOW}", _last("paid", "overestimate"), (-2.0, 2.0)),
    "paid_last_rm_ranking": (f"RM ranking, last {PAID_WINDOW}", _last("paid", "rm_ranking"), (-1.0, 1.0)),
    "withheld_last_accuracy": ("withheld accuracy, last 4", _last("withheld", "accuracy"), (-1.0, 1.0)),
}


def _pair(runs: dict[tuple[str, int], dict], arm: str, control: str, seeds: list[int]) -> dict:
    """`arm - control` per seed on each of PAIR_FIGURES: mean and t-interval over the seeds both ran."""
    pair = {"arm": arm, "control": control, "seeds": [s for s in seeds if (arm, s) in runs and (control, s) in runs]}
    for key, (_, figure, bounds) in PAIR_FIGURES.items():
        pair[key] = interval(paired_differences(runs, arm, control, seeds, figure), bounds)
    return pair


def default_pairs(arms: list[str]) -> list[tuple[str, str]]:
    """Each online arm of the study beside its frozen control (study_arms.CONTROLS) where both are in `arms`."""
    return [(arm, CONTROLS[arm]) for arm in arms if CONTROLS.get(arm) in arms]


def check_pairs(pairs: list[tuple[str, str]], arms: list[str]) -> None:
    """A pair compares two arms of the report that share each seed's data (so its prompt stream): else ValueError."""
    for arm, control in pairs:
        missing = [a for a in (arm, control) if a not in arms]
        if missing:
            raise ValueError(f"pair {arm}:{control}: {', '.join(missing)} not among the report's arms {arms}")
        if data_overrides(arm) != data_overrides(control):
            raise ValueError(
                f"pair {arm}:{control}: the two arms sample different data ({data_overrides(arm)} vs "
                f"{data_overrides(control)}), so a per-seed difference is not paired"
            )


def _first_last_intervals(runs: list[dict], prefix: str, bounds: dict) -> dict:
    """`{prefix}_{first|last}_{key}`: each figure's interval over the runs that have it, clipped to its bounds; {}
    when no run has `prefix` figures."""
    if not any(f"{prefix}_first" in r for r in runs):
        return {}
    return {
        f"{prefix}_{when}_{key}": interval([r[f"{prefix}_{when}"][key] for r in runs if f"{prefix}_{when}" in r], clip)
        for when in ("first", "last")
        for key, clip in bounds.items()
    }


def check_commits(runs: dict[tuple[str, int], dict], allow_mixed: bool) -> list[str]:
    """The commits the runs ran from; more than one is refused unless `allow_mixed`."""
    commits = sorted({c for run in runs.values() for c in run["commits"]})
    if len(commits) > 1 and not allow_mixed:
        by_commit = {
            c: sorted(f"{arm}-seed{seed}" for (arm, seed), run in runs.items() if c in run["commits"]) for c in commits
        }
        raise MixedCommits(
            "the study's runs ran from several commits, and one table should come from one: "
            + "; ".join(f"{c}: {', '.join(names)}" for c, names in by_commit.items())
            + ". Re-run the odd ones from one commit (delete their run directories), or pass "
            "--allow-mixed-commits and say so wherever the table is quoted."
        )
    return commits


def _fmt(cell: dict, digits: int = 3, signed: bool = False) -> str:
    if not cell["n"] or math.isnan(cell["mean"]):
        return "—"
    sign = "+" if signed else ""
    if math.isnan(cell["low"]):
        return f"{cell['mean']:{sign}.{digits}f}"
    return f"{cell['mean']:{sign}.{digits}f} [{cell['low']:{sign}.{digits}f}, {cell['high']:{sign}.{digits}f}]"


def markdown(summary: dict, command: str, commits: list[str]) -> str:
    table, baseline = summary["arms"], summary["baseline"]
    lines = [
        "# Study report",
        "",
        f"Command: `{command}`",
        "",
        f"Code: commit {', '.join(commits)}",
        "",
        "Held-out verified accuracy, mean and 95% interval over seeds (Student t; accuracies clipped to "
        "[0, 1], changes to [-1, 1]). `before` is the base policy (the same for every arm of a seed). RM "
        "columns: within-group ranking accuracy of the online RM and of its frozen first version on each "
        "step's fresh batch, before the RM trains on it, pair-weighted over the run, with a bootstrap "
        "interval over steps; `pairs` is how many pairs it rests on.",
        "",
        "| arm | seeds | greedy before | greedy after | greedy change | sampled before | sampled after | "
        "sampled change | online RM held-out (pairs) | frozen RM held-out (pairs) | alarms | s/step (median) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, row in table.items():
        cells = [
            _fmt(row[f"{kind}_{name}_accuracy"], signed=kind == "change")
            for name in EVALS
            for kind in ("before", "after", "change")
        ]
        rm = [f"{_fmt(row[key])} ({row[key]['n']})" for key in ("rm_heldout", "rm_frozen_heldout")]
        lines.append(
            f"| `{arm}` | {len(row['seeds'])} | " + " | ".join(cells) + f" | {rm[0]} | {rm[1]} | "
            f"{row['alarms']} | {row['median_step_seconds']:.1f} |"
        )
    paired = {arm: row for arm, row in table.items() if any(k.startswith("vs_baseline_") for k in row)}
    if paired:
        lines += [
            "",
            f"Paired differences against `{baseline}` (after training, same seed: arm minus `{baseline}`; "
            "mean and 95% t-interval over seeds):",
            "",
            "| arm | greedy | sampled |",
            "|---|---|---|",
        ]
        for arm, row in paired.items():
            lines.append(
                f"| `{arm}` | "
                + " | ".join(_fmt(row.get(f"vs_baseline_{name}_accuracy", {"n": 0}), signed=True) for name in EVALS)
                + " |"
            )
    lines += _pairs_table(summary.get("pairs", []))
    parts = {arm: [n for n in row["evals"] if n not in (f"{e}_accuracy" for e in EVALS)] for arm, row in table.items()}
    if any(parts.values()):
        lines += [
            "",
            "Per part of the held-out set (level, phrasing) and the share of answers in the asked format:",
            "",
            "| arm | figure | before | after | change |",
            "|---|---|---|---|---|",
        ]
        for arm, names in parts.items():
            for name in names:
                cells = " | ".join(
                    _fmt(table[arm][f"{kind}_{name}"], signed=kind == "change")
                    for kind in ("before", "after", "change")
                )
                lines.append(f"| `{arm}` | {name.replace('_accuracy_', ' ').replace('_', ' ')} | {cells} |")
    lines += _first_last(
        table,
        "steps",
        STEP_COLUMNS,
        "The training samples' steps (the rule checker on the stored completions of the first and the last two "
        "policy steps; mean and 95% t-interval over seeds):",
        "| arm | steps per completion, first | last | repeated steps, first | last |",
    )
    lines += _first_last(
        table,
        "withheld",
        WITHHELD_COLUMNS,
        "Scarce labels: the training samples of the first and the last four policy steps. `labelled` is the "
        "verified accuracy of the rows the loop could judge; `withheld` re-verifies afterwards the rows whose "
        "answer the loop never saw, against the answer re-derived from their task id, beside the mean reward "
        "those rows got (what the RM paid; 0 where nothing did) and the RM's within-group ranking accuracy on "
        "them (the stored score of a version that had not trained on the row, against the re-verified verdict): "
        "a reward that rises while the withheld accuracy does not is hacking the loop could not see. Mean and 95% "
        "t-interval over seeds:",
        "| arm | labelled, first | last | withheld, first | last | their reward, first | last | "
        "RM ranking, first | last |",
    )
    if any(row.get("paid_last_rm_reward", {"n": 0})["n"] for row in table.values()):
        lines += _first_last(
            table,
            "paid",
            PAID_COLUMNS,
            f"What the RM paid against what the rule verified, over the first and the last {PAID_WINDOW} steps an RM "
            "rewarded (at most half the run each; every step for an arm no RM rewards): the training batches' "
            "verified accuracy, the RM's mean reward (on the verifier's [0, 1] scale), their difference (reward "
            "minus accuracy: an over-estimate that grows while the verified accuracy does not is the policy "
            "exploiting the RM), and that RM's held-out ranking accuracy on the same steps' batches (pair-weighted "
            "within a run). Mean and 95% t-interval over seeds:",
            "| arm | verified, first | last | RM reward, first | last | RM over-estimate, first | last | "
            "RM ranking, first | last |",
        )
    ranked = {arm: row for arm, row in table.items() if "withheld_ranking_rm" in row}
    if ranked:
        lines += [
            "",
            'The RM\'s ranking of the withheld rows over the whole run, beside "shorter is better" on the same '
            "pairs (mean and 95% t-interval over seeds; pairs summed over seeds):",
            "",
            "| arm | RM | shorter is better | pairs |",
            "|---|---|---|---|",
        ]
        for arm, row in ranked.items():
            lines.append(
                f"| `{arm}` | {_fmt(row['withheld_ranking_rm'])} | {_fmt(row['withheld_ranking_shorter'])} | "
                f"{row['withheld_ranking_pairs']} |"
            )
    pushed = {arm: row for arm, row in table.items() if "withheld_push_share" in row}
    if pushed:
        lines += [
            "",
            "Where the policy's updates pointed: each step's advantages re-formed from the stored rewards with the "
            "run's `grpo.scale`; the share of the run's total |advantage| carried by the withheld rows (mean and 95% "
            "t-interval over seeds), and the groups with a non-zero advantage out of all groups of each kind (summed "
            "over seeds):",
            "",
            "| arm | withheld share of \\|advantage\\| | withheld groups moved | labelled groups moved |",
            "|---|---|---|---|",
        ]
        for arm, row in pushed.items():
            lines.append(
                f"| `{arm}` | {_fmt(row['withheld_push_share'])} | "
                f"{row['withheld_push_withheld_moved']} of {row['withheld_push_withheld_groups']} | "
                f"{row['withheld_push_labelled_moved']} of {row['withheld_push_labelled_groups']} |"
            )
    lines += ["", "Arms:", ""] + [f"- `{arm}`: {ARMS[arm][0]}" for arm in table if arm in ARMS]
    return "\n".join(lines) + "\n"


def _pairs_table(pairs: list[dict]) -> list[str]:
    """The online arms against their controls: a column per PAIR_FIGURES entry some pair has (none: no lines)."""
    keys = [key for key in PAIR_FIGURES if any(pair[key]["n"] for pair in pairs)]
    if not keys:
        return []
    paid = any(key.startswith("paid_") for key in keys)
    where = [f"the RM columns over the last {PAID_WINDOW} steps an RM rewarded"] if paid else []
    where += ["the withheld rows' over the last four steps"] if "withheld_last_accuracy" in keys else []
    lines = [
        "",
        "Paired per-seed differences, arm minus control (by default each online arm against its frozen control: the "
        "same RM's first version, never updated, from the same warm start where there is one), mean and 95% "
        "t-interval over the seeds both ran" + (f"; {' and '.join(where)}" if where else "") + ":",
        "",
        "| arm | control | seeds | " + " | ".join(PAIR_FIGURES[key][0] for key in keys) + " |",
        "|---" * (len(keys) + 3) + "|",
    ]
    for pair in pairs:
        cells = " | ".join(_fmt(pair[key], signed=True) for key in keys)
        lines.append(f"| `{pair['arm']}` | `{pair['control']}` | {len(pair['seeds'])} | {cells} |")
    return lines


def _first_last(table: dict, prefix: str, columns: tuple[str, ...], intro: str, header: str) -> list[str]:
    """A first-vs-last table of the arms that have `prefix` figures (none: no lines)."""
    arms = {arm: row for arm, row in table.items() if f"{prefix}_first_{columns[0]}" in row}
    if not arms:
        return []
    lines = ["", intro, "", header, "|---" * (header.count("|") - 1) + "|"]
    for arm, row in arms.items():
        cells = [_fmt(row[f"{prefix}_{when}_{key}"]) for key in columns for when in ("first", "last")]
        lines.append(f"| `{arm}` | " + " | ".join(cells) + " |")
    return lines


def write_report(
    output_dir: str,
    arms: list[str],
    seeds: list[int],
    command: str,
    baseline: str | None = None,
    allow_mixed_commits: bool = False,
    pairs: list[tuple[str, str]] | None = None,
) -> dict:
    """Summarize every finished run of the study; write report.md, results.json and plots/. `command` is the
    command the report names; `pairs` (default: `default_pairs`) the (arm, control) pairs it sets side by side."""
    from orchestration.study_plots import plot

    runs = {
        (arm, seed): summarize_run(run_dir(output_dir, arm, seed))
        for arm in arms
        for seed in seeds
        if is_finished(run_dir(output_dir, arm, seed))
    }
    if not runs:
        raise NoFinishedRuns(
            f"no finished run of arms {' '.join(arms)} with seeds {' '.join(map(str, seeds))} under "
            f"{os.path.join(output_dir, 'runs')} (a finished run has its study_run.json)"
        )
    commits = check_commits(runs, allow_mixed_commits)
    summary = aggregate(runs, arms, seeds, baseline, pairs)
    with open(os.path.join(output_dir, "report.md"), "w", encoding="utf-8") as f:
        f.write(markdown(summary, command, commits))
    results = {
        "command": command,
        "commits": commits,
        **summary,
        "runs": [{"arm": arm, "seed": seed, **run} for (arm, seed), run in runs.items()],
    }
    with open(os.path.join(output_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, allow_nan=True)
    plot(runs, summary, seeds, os.path.join(output_dir, "plots"))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir")
    parser.add_argument("--arms", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--baseline", help="the arm paired differences are taken against (default: the first)")
    parser.add_argument(
        "--allow-mixed-commits", action="store_true", help="report runs made from different commits in one table"
    )
    parser.add_argument(
        "--pairs",
        nargs="*",
        metavar="ARM:CONTROL",
        help="pairs of arms to set side by side as paired per-seed differences (default: each online arm of the "
        "study beside its frozen control, e.g. rm_warm:frozen_rm_warm; none: --pairs with nothing after it)",
    )
    args = parser.parse_args(argv)
    pairs = None
    if args.pairs is not None:
        malformed = [p for p in args.pairs if p.count(":") != 1 or not all(p.split(":"))]
        if malformed:
            parser.error(f"--pairs takes ARM:CONTROL, got {' '.join(malformed)}")
        pairs = [tuple(p.split(":")) for p in args.pairs]
        try:
            check_pairs(pairs, args.arms)
        except ValueError as e:
            parser.error(str(e))
    # A re-drawn report names the study command its results.json recorded; without one (runs gathered from several
    # studies, or a study stopped before its report) it names this command, not a study that may never have run.
    previous = os.path.join(args.output_dir, "results.json")
    command = _read_json(previous).get("command") if os.path.isfile(previous) else None
    if command is None or command.startswith(REPORT_COMMAND):
        command = f"{REPORT_COMMAND} {shlex.join(sys.argv[1:] if argv is None else argv)}"
    try:
        write_report(args.output_dir, args.arms, args.seeds, command, args.baseline, args.allow_mixed_commits, pairs)
    except (MixedCommits, NoFinishedRuns) as e:
        raise SystemExit(f"study report: {e}") from None
    print(os.path.join(args.output_dir, "report.md"))


if __name__ == "__main__":
    main()
