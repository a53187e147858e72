"""Reward terms: the per-completion reward as a weighted sum of named terms (`loop.reward_terms`).

    reward_i = sum over terms of weight * term_i

Built-in terms (each logged every step as `reward/<name>`, its mean before weighting, and as
`reward/within_group_std/<name>`, how much it varies inside a group: `within_group_std`):
    verifier    the rule verifier's score in [0, 1] (math: 1 right, 0 wrong; code: share of tests passed)
    rm          the online RM's score on the verifier's scale, [0, 1] (`ScalarRewardModel.reward`)
    frozen_rm   the same from the RM's first version, never updated (the control)
    format      1 when the answer is where the prompt asked for it (math: a `\\boxed{}`; code: a ```python
                block), else 0
    length      DAPO's soft overlong punishment (arXiv 2503.14476, eq. 13), in [-1, 0]: 0 up to
                `max_new_tokens - buffer` tokens, then falling linearly to -1 at `max_new_tokens` (a cut-off
                completion gets -1); with `min_tokens`, a completion shorter than that gets
                -(min_tokens - length) / min_tokens as well
    repetition  -(1 - distinct n-grams / n-grams) over the completion's words (the repetition penalty of
                open-r1), in [-1, 0]; `ngram` words each
and user terms by dotted path (`mypkg.rewards.brevity`), called as TRL calls a reward function:
`fn(prompts=..., completions=..., completion_ids=..., answer=..., tests=..., entry_point=..., code_prompt=...,
task_id=..., verifier=...)` -> one float (or None: "does not apply", counted as 0) per completion. So
`verifiers.trl.math_reward` works as a term unchanged.

Until the RM exists (the verifier warm-up), `rm` and `frozen_rm` read the verifier's score; on a prompt no rule
can judge (`data.unlabelled`), `verifier` reads the RM version `loop.unlabelled_reward` names (the online one, the
first version, or none: 0), and 0 while there is none. `loop.reward_source`
is shorthand for the common lists: verifier = [verifier], rm = [rm], frozen_rm = [frozen_rm],
mix = [rm * mix_weight, verifier * (1 - mix_weight)].
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from verifiers import Outcome
from verifiers._math_extract import _boxes
from verifiers.outcome import UNLABELLED

BUILTIN_TERMS = ("verifier", "rm", "frozen_rm", "format", "length", "repetition")
RM_TERMS = ("rm", "frozen_rm")
_CODE_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)[ \t]*\n", re.IGNORECASE)


@dataclass
class RewardTermConfig:
    name: str = field(
        metadata={
            "help": f"one of {BUILTIN_TERMS}, or a dotted path to fn(prompts, completions, **columns) -> list[float]"
        }
    )
    weight: float = field(default=1.0, metadata={"help": "the term's weight in the sum (0: logged only)"})
    buffer: int | None = field(
        default=None,
        metadata={"help": "length: the overlong buffer in tokens (DAPO's L_cache); null = max_new_tokens // 4"},
    )
    min_tokens: int = field(default=0, metadata={"help": "length: completions shorter than this are penalised"})
    ngram: int = field(default=3, metadata={"help": "repetition: n-gram size in words"})

    def __post_init__(self):
        if self.name not in BUILTIN_TERMS:
            resolve_user_term(self.name)  # fails now, before any model loads, if it cannot be imported
        if not math.isfinite(self.weight):
            raise ValueError(f"reward term {self.name!r}: weight must be finite, got {self.weight}")
        if self.buffer is not None and self.buffer < 1:
            raise ValueError(f"reward term {self.name!r}: buffer must be >= 1 token, got {self.buffer}")
        if self.min_tokens < 0 or self.ngram < 1:
            raise ValueError(f"reward term {self.name!r}: min_tokens must be >= 0 and ngram >= 1")


def resolve_user_term(path: str) -> Callable:
    """`package.module.function` -> the function; a clear error when it is not there."""
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ValueError(
            f"reward term {path!r} is neither a built-in {BUILTIN_TERMS} nor a dotted path like mypkg.rewards.brevity"
        )
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"reward term {path!r}: cannot import it ({type(e).__name__}: {e})") from e
    if not callable(fn):
        raise ValueError(f"reward term {path!r} is not callable")
    return fn


def shorthand_terms(reward_source: str, mix_weight: float) -> list[RewardTermConfig]:
    """The term list a `loop.reward_source` stands for."""
    if reward_source == "mix":
        return [RewardTermConfig("rm", mix_weight), RewardTermConfig("verifier", 1.0 - mix_weight)]
    return [RewardTermConfig(reward_source, 1.0)]


def implied_source(terms: list[RewardTermConfig]) -> str:
    """The `loop.reward_source` a term list amounts to: which RM (if any) rewards, and whether the verifier does.

    It decides whether the RM keeps training (`frozen_rm` freezes it) and what the study calls the run."""
    names = {term.name for term in terms if term.weight != 0}
    if {"rm", "frozen_rm"} <= names:
        raise ValueError("loop.reward_terms: use either rm (the online RM) or frozen_rm (its first version), not both")
    if "frozen_rm" in names:
        return "frozen_rm"
    if "rm" in names:
        return "mix" if "verifier" in names else "rm"
    return "verifier"


@dataclass(frozen=True)
class RewardPlan:
    """What rewards a completion, resolved once when the config loads (`TrainConfig.plan`) from the shorthand
    (`loop.reward_source`, `loop.format_weight`) or `loop.reward_terms`, the algorithm and the supervision: the rest
    of the loop reads this, never the shorthand's string.

    `rm`: which RM version rewards the run, "live" (re-trained online), "frozen" (its first version, never trained
    again: the run then trains no RM past it) or None; `fallbacks`: where a term reads another source, said once at
    the start of a run."""

    terms: tuple[RewardTermConfig, ...]  # online_rft / rft log them but weigh completions by the verifier alone
    algorithm: str
    step_level: bool  # process supervision: one reward per step
    source: str  # the shorthand the plan amounts to (rm, frozen_rm, mix, verifier): what the study calls the run
    fallbacks: tuple[str, ...]
    unlabelled: str | None = None  # the RM version ("live", "frozen") the verifier term reads on unlabelled prompts

    @classmethod
    def build(
        cls,
        terms,
        algorithm: str,
        supervision: str,
        source: str,
        unlabelled: bool,
        unlabelled_reward: str | None = "rm",
    ) -> "RewardPlan":
        terms = tuple(terms)
        names = {term.name for term in terms if term.weight} if algorithm == "grpo" else set()
        fallbacks = []
        if names & set(RM_TERMS):
            fallbacks.append(
                "until the RM's first version exists (its first update, or rm.init_from) "
                + (
                    "the steps are rewarded by their labels"
                    if supervision == "process"
                    else "the RM terms read the verifier's verdict"
                )
            )
        fill = None
        if "verifier" in names and unlabelled:
            fill = {"rm": "live", "frozen_rm": "frozen"}.get(unlabelled_reward)
            fallbacks.append(
                "on prompts without a gold answer (data.unlabelled) the verifier term reads "
                + {"live": "the live RM", "frozen": "the RM's first version, never updated"}.get(fill, "nothing (0)")
            )
        return cls(terms, algorithm, supervision == "process", source, tuple(fallbacks), fill)

    @property
    def rm(self) -> str | None:
        """Which RM version's scores reward the run: "live", "frozen" or None (through the verifier term on
        prompts without an answer, too)."""
        if self.algorithm != "grpo":
            return None
        return {"rm": "live", "mix": "live", "frozen_rm": "frozen"}.get(self.source, self.unlabelled)

    def describe(self) -> str:
        """One line saying what rewards a completion, for the start of a run."""
        if self.algorithm != "grpo":
            return (
                f"reward plan: {self.algorithm}: coefficient 1 on verifier-correct completions, 0 on the rest "
                "(no reward terms)"
            )
        notes = {
            "rm": "rm = the online RM's score, re-trained every rm.update_every steps",
            "frozen_rm": "frozen_rm = the RM's first version, never updated",
            "verifier": "verifier = the rule's verdict",
            "format": "format = 1 when the answer is where the prompt asked (\\boxed{}, a ```python block)",
        }
        if self.step_level:
            terms, kind = f"each step by {self.source}", "one reward per step (process supervision)"
            said = [notes.get(self.source, "")]
        else:
            terms, kind = " + ".join(f"{term.weight:g} * {term.name}" for term in self.terms), "one per completion"
            said = [notes[term.name] for term in self.terms if term.name in notes]
        return f"reward plan: {terms}, {kind}; " + "; ".join(said + list(self.fallbacks))


@dataclass
class TermBatch:
    """What the terms read; one entry per completion, group-contiguous."""

    items: list  # TaskItem per completion
    completions: list[str]
    completion_ids: list[list[int]]
    truncated: list[bool]
    outcomes: list[Outcome]
    live: torch.Tensor | None  # the online RM's [0, 1] scores, None before its first version
    frozen: torch.Tensor | None  # the first version's
    max_new_tokens: int
    unlabelled: str | None = "live"  # which of the two the verifier term reads on unlabelled prompts (None: 0)


def term_values(term: RewardTermConfig, batch: TermBatch) -> torch.Tensor:
    """(N,) float32 values of one term, before its weight."""
    verified = torch.tensor([o.score for o in batch.outcomes], dtype=torch.float32)
    unlabelled = torch.tensor([o.reason == UNLABELLED for o in batch.outcomes], dtype=torch.bool)
    if term.name == "verifier":
        fill = {"live": batch.live, "frozen": batch.frozen}.get(batch.unlabelled)
        return torch.where(unlabelled, torch.zeros_like(verified) if fill is None else fill.float(), verified)
    if term.name in RM_TERMS:
        scores = batch.live if term.name == "rm" else batch.frozen
        if scores is None:  # warm-up: no RM yet; an unlabelled prompt has no signal at all
            return torch.where(unlabelled, torch.zeros_like(verified), verified)
        return scores.float().clone()
    if term.name == "format":
        return torch.tensor(
            [float(well_formatted(item.verifier, text)) for item, text in zip(batch.items, batch.completions)]
        )
    if term.name == "length":
        buffer = term.buffer or max(1, batch.max_new_tokens // 4)
        return torch.tensor(
            [length_penalty(len(ids), batch.max_new_tokens, buffer, term.min_tokens) for ids in batch.completion_ids],
            dtype=torch.float32,
        )
    if term.name == "repetition":
        return torch.tensor([repetition_penalty(text, term.ngram) for text in batch.completions])
    return _user_values(term.name, batch)


def combine_terms(terms: list[RewardTermConfig], batch: TermBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(N,) rewards = sum of weight * values, and each term's (N,) values before weighting (logged as
    `reward/<name>`, their mean)."""
    values = {term.name: term_values(term, batch) for term in terms}
    rewards = torch.zeros(len(batch.completions), dtype=torch.float32)
    for term in terms:
        rewards += term.weight * values[term.name]
    return rewards, values


def within_group_std(values: torch.Tensor, group_size: int) -> float:
    """values: (N,) group-contiguous, N a multiple of group_size -> the mean over groups of one group's standard
    deviation (unbiased, the one `policy.grpo.group_advantages` divides by): how far a reward tells one prompt's
    completions apart under the current policy (logged as `reward/within_group_std` for the reward,
    `reward/within_group_std/<term>` per term). An accurate reward with little spread here still teaches slowly:
    GRPO's advantages are formed within a group."""
    return values.float().reshape(-1, group_size).std(dim=1).mean().item()


def length_penalty(length: int, max_new_tokens: int, buffer: int, min_tokens: int = 0) -> float:
    """DAPO's soft overlong punishment in [-1, 0], plus the too-short penalty when `min_tokens` > 0."""
    start = max_new_tokens - buffer
    penalty = 0.0
    if length > max_new_tokens:
        penalty = -1.0
    elif length > start:
        penalty = (start - length) / buffer
    if min_tokens and length < min_tokens:
        penalty -= (min_tokens - length) / min_tokens
    return max(penalty, -1.0)


def repetition_penalty(text: str, n: int = 3) -> float:
    """-(1 - distinct / all) word n-grams; 0 for a text shorter than one n-gram."""
    words = text.lower().split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return -(1.0 - len(set(grams)) / len(grams)) if grams else 0.0


def well_formatted(verifier: str, text: str) -> bool:
    """The answer is where the prompt asked for it: math in a `\\boxed{}`, code in a ```python block."""
    if verifier == "code":
        return bool(_CODE_FENCE.search(text))
    return bool(_boxes(text))


def _user_values(path: str, batch: TermBatch) -> torch.Tensor:
    items = batch.items
    columns = {
        "answer": [item.gold for item in items],
        "tests": [item.tests for item in items],
        "entry_point": [item.entry_point for item in items],
        "code_prompt": [item.code_prompt for item in items],
        "task_id": [item.id for item in items],
        "verifier": [item.verifier for item in items],
    }
    values = resolve_user_term(path)(
        prompts=[item.prompt for item in items],
        completions=list(batch.completions),
        completion_ids=batch.completion_ids,
        **columns,
    )
    if not isinstance(values, (list, tuple)) or len(values) != len(items):
        got = f"{len(values)} values" if isinstance(values, (list, tuple)) else type(values).__name__
        raise RewardTermError(
            f"reward term {path!r} returned {got} for {len(items)} completions: it must return "
            "one float (or None) per completion"
        )
    out = []
    for i, value in enumerate(values):
        if value is None:
            out.append(0.0)
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise RewardTermError(
                f"reward term {path!r} returned {values[i]!r} for completion {i} "
                f"(task {items[i].id}): rewards must be finite floats or None"
            )
        out.append(value)
    return torch.tensor(out, dtype=torch.float32)


class RewardTermError(ValueError):
    """A user reward term broke its contract; the message names the term and the completion."""
