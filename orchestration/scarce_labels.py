"""Scarce labels on the built-in arithmetic task (`data.labelled_problems`): a few training problems carry their gold
answer, the rest of the stream does not, so only an RM can reward it.

    row i of the stream             labelled draw when floor((i + 1) * share) > floor(i * share), else a plain draw
    labelled draw k                 one of the N labelled problems (each once per N draws, in a seeded order),
                                    asked in the phrasings in turn, with its gold answer
    plain draw                      row i of the plain arithmetic stream (every training problem, the labelled ones
                                    among them); with `data.unlabelled` its answer is withheld: verifier "none",
                                    rewarded by the RM (`loop.unlabelled_reward`), never trains the RM, never
                                    evaluated. Without it, the same row keeps its answer (the oracle arm)

The labelled problems are the first N distinct ones of a fixed, seed-free stream, so every seed shares them; the
held-out set is untouched (the arithmetic test split). A withheld answer is not kept anywhere the loop reads:
`withheld_gold` re-derives it from the row's task id afterwards, to re-verify what the RM rewarded
(`orchestration.study_report`).
"""

from __future__ import annotations

import math
import os
import random
import re

from orchestration.arithmetic import ArithmeticTasks, Problem
from orchestration.tasks import TaskItem

LABELLED_SEED = "labelled-problems"  # the stream the labelled problems are taken from: the same for every run seed
_KEY = re.compile(r"^arith-([1-4]):(\d+)([+\-*])(\d+)(?:\+(\d+))?(?:-(?:worded|word))?$")


def is_labelled_draw(index: int, share: float) -> bool:
    return int((index + 1) * share) > int(index * share)


class ScarceLabels:
    """The training stream of `data.labelled_problems` (module docstring); `item(i)` depends only on the arguments
    and i."""

    def __init__(self, base: ArithmeticTasks, labelled_problems: int, share: float, withhold: bool):
        if labelled_problems < 1 or not 0.0 < share <= 1.0:
            raise ValueError(f"labelled_problems must be >= 1 and share in (0, 1], got {labelled_problems}, {share}")
        self.base, self.share, self.withhold = base, share, withhold
        self.pool: list[tuple[int, Problem]] = []  # (level, problem), distinct keys
        seen = set()
        for index in range(1000 * labelled_problems):
            level = base.levels[index % len(base.levels)]
            problem = base.draw(level, random.Random(f"{LABELLED_SEED}:{index}"))  # its split: seed-free
            if problem.key not in seen:
                seen.add(problem.key)
                self.pool.append((level, problem))
            if len(self.pool) == labelled_problems:
                break
        else:
            raise ValueError(
                f"data.labelled_problems={labelled_problems}: levels {base.levels} have only {len(self.pool)} "
                "distinct training problems"
            )

    def __len__(self) -> None:  # endless
        return None

    @property
    def keys(self) -> list[str]:
        """The labelled problems' keys (`Problem.key`)."""
        return [problem.key for _, problem in self.pool]

    def item(self, index: int) -> TaskItem:
        if is_labelled_draw(index, self.share):
            k = int(index * self.share)  # this is the k-th labelled draw
            epoch, j = divmod(k, len(self.pool))
            order = list(range(len(self.pool)))
            random.Random(f"{self.base.seed}:labelled-order:{epoch}").shuffle(order)
            level, problem = self.pool[order[j]]
            wanted = self.base.phrasings[k % len(self.base.phrasings)]
            item = self.base.render(level, problem, wanted, random.Random(f"{self.base.seed}:labelled:{k}"))
            item.meta["labelled"] = True
            return item
        item = self.base.item(index)
        if not self.withhold:
            return item
        return TaskItem(id=item.id, prompt=item.prompt, verifier="none", meta={**item.meta, "labelled": False})

    def take(self, n: int) -> list[TaskItem]:
        return [self.item(i) for i in range(n)]


def withheld_gold(task_id: str) -> str | None:
    """The gold answer of a built-in arithmetic row of levels 1-4 from its task id (`arith-2:7*8-worded` -> "56"),
    None for any other id: how a withheld answer is recovered afterwards, without the loop ever holding it."""
    match = _KEY.match(task_id)
    if not match:
        return None
    level, a, op, b, c = match.groups()
    a, b = int(a), int(b)
    if level == "4":
        return str(a * b + int(c)) if op == "*" and c is not None else None
    if c is not None:
        return None
    return str(a + b if op == "+" else a - b if op == "-" else a * b)


def withheld_figures(path: str, window: int = 4, timeout: float = 10.0, scale: str = "group") -> dict:
    """What the RM rewarded, judged afterwards: the run's stored completions (`outcomes.jsonl`) of prompts whose
    answer was withheld, re-verified against `withheld_gold` as the loop verifies (`verifiers.math.check_batch`, the
    last-number fallback on), over the first and the last `window` policy steps: {"first", "last"}, each with the
    re-verified `accuracy` and mean `reward` of those rows, the RM's ranking of them (`rm_ranking`, over `pairs`),
    the `labelled_accuracy` of the rows the loop verified and the row counts; and {"ranking"} over the whole run
    (`withheld_ranking`), and where the policy's push went (`advantage_push`, advantages re-formed with the run's
    `grpo.scale`). Rows of another task (no gold in their id) are left out."""
    from orchestration.buffer import OutcomeBuffer
    from verifiers import math as math_verifier
    from verifiers.outcome import UNLABELLED

    buffer = OutcomeBuffer(os.path.join(path, "outcomes.jsonl"))
    rows = buffer.read(range(len(buffer)))
    if not rows:
        raise ValueError(f"{path}/outcomes.jsonl holds no outcomes")
    withheld = [r for r in rows if r.reason == UNLABELLED and withheld_gold(r.task_id) is not None]
    verdicts = math_verifier.check_batch(
        [r.response for r in withheld],
        [withheld_gold(r.task_id) for r in withheld],
        timeout=timeout,
        fallback_last_number=True,
        complete=[r.truncated is False for r in withheld],
    )
    last = max(r.step for r in rows)

    def figures(keep) -> dict:
        kept = [(r, o.correct) for r, o in zip(withheld, verdicts) if keep(r.step)]
        hidden, correct = [r for r, _ in kept], [c for _, c in kept]
        judged = [r for r in rows if keep(r.step) and r.reason != UNLABELLED]
        ranking = withheld_ranking(hidden, correct)
        return {
            "accuracy": _mean(correct),
            "reward": _mean([r.reward for r in hidden if r.reward is not None]),
            "labelled_accuracy": _mean([r.correct for r in judged]),
            "rm_ranking": ranking["rm"],
            "withheld_rows": len(hidden),
            "labelled_rows": len(judged),
            "pairs": ranking["pairs"],
        }

    return {
        "first": figures(lambda step: step <= window),
        "last": figures(lambda step: step > last - window),
        "ranking": withheld_ranking(withheld, [o.correct for o in verdicts]),
        "push": advantage_push(rows, scale),
    }


def advantage_push(rows, scale: str) -> dict:
    """Where the policy's updates pointed: each sampled batch's advantages re-formed from the stored rewards as the
    loop formed them (`policy.grpo.group_advantages` with the run's `grpo.scale`; a batch is the rows whose group id
    shares all but its last field: one step's rows of one process, of one sampling round where `loop.refill_rounds`
    adds rounds, whose concatenation and curation into the update's batch are not re-formed), then
    `withheld_share`, the share of the run's total |advantage| carried by rows whose answer was withheld, and per
    kind (`withheld`, `labelled`) how many groups there were and how many had a non-zero advantage (`*_groups`,
    `*_moved`). A batch that is not whole groups of one size, or holds a row without a reward, is left out and
    counted in `batches_skipped`."""
    import torch

    from policy.grpo import group_advantages
    from verifiers.outcome import UNLABELLED

    batches: dict[str, dict[str, list]] = {}  # batch -> group -> rows, both in stored order
    for r in rows:
        batches.setdefault(r.group.rsplit(":", 1)[0], {}).setdefault(r.group, []).append(r)
    push = {"withheld": 0.0, "labelled": 0.0}
    counts = {"withheld_groups": 0, "withheld_moved": 0, "labelled_groups": 0, "labelled_moved": 0}
    skipped = 0
    for groups in batches.values():
        sizes = {len(g) for g in groups.values()}
        flat = [r for g in groups.values() for r in g]
        if len(sizes) != 1 or min(sizes) < 2 or any(r.reward is None for r in flat):
            skipped += 1
            continue
        size = sizes.pop()
        advantages = group_advantages(torch.tensor([r.reward for r in flat]), size, scale=scale).abs()
        for start in range(0, len(flat), size):
            kind = "withheld" if flat[start].reason == UNLABELLED else "labelled"
            moved = float(advantages[start : start + size].sum())
            push[kind] += moved
            counts[f"{kind}_groups"] += 1
            counts[f"{kind}_moved"] += moved > 0
    total = push["withheld"] + push["labelled"]
    return {"withheld_share": push["withheld"] / total if total else math.nan, **counts, "batches_skipped": skipped}


def withheld_ranking(rows, correct: list[bool]) -> dict:
    """How well the RM judged what it could not be checked on: the within-group ranking accuracy of the stored
    `rm_score` (the score of an RM version that had not trained on the row) against the re-verified verdicts, over
    every pair of a right and a wrong completion of one withheld prompt, beside "shorter is better" on the same
    pairs. Ties count 1/2 (`reward_model.metrics.pairwise_accuracy`)."""
    from reward_model.metrics import pair_indices, pairwise_accuracy

    scored = [i for i, r in enumerate(rows) if r.rm_score is not None]
    better, worse = pair_indices([float(correct[i]) for i in scored], [rows[i].group for i in scored])
    rm = [rows[i].rm_score for i in scored]
    shorter = [-float(len(rows[i].response)) for i in scored]
    accuracy, pairs = pairwise_accuracy([rm[i] for i in better], [rm[i] for i in worse])
    return {
        "rm": accuracy,
        "shorter": pairwise_accuracy([shorter[i] for i in better], [shorter[i] for i in worse])[0],
        "pairs": pairs,
    }


def _mean(values: list) -> float:
    return sum(values) / len(values) if values else math.nan
