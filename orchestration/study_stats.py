"""The statistics a study reports, as pure functions: Student-t intervals over seeds (clipped to the figure's range)
and pair-weighted ranking accuracy with a bootstrap interval (`orchestration.study_report` says why each), and what
an RM paid against what the rule verified at each end of a run."""

from __future__ import annotations

import math
import random
import statistics

from orchestration.metrics import nan_safe_mean

EVALS = ("greedy", "sampled")
BOOTSTRAP_SAMPLES = 2000


def interval(values: list[float], bounds: tuple[float, float] | None = None) -> dict[str, float]:
    """Mean and 95% Student-t interval of `values` (NaNs dropped), clipped to `bounds`; half-width NaN below two
    values."""
    from scipy.stats import t

    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not values:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    mean = statistics.fmean(values)
    half = (
        t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
        if len(values) > 1
        else math.nan
    )
    low, high = mean - half, mean + half
    if bounds is not None and not math.isnan(half):
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"mean": mean, "low": low, "high": high, "n": len(values)}


def pair_weighted(units: list[tuple[float, int]], seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> dict[str, float]:
    """Pair-weighted ranking accuracy of (accuracy, pairs) units (one per step and seed) and its 95% percentile
    bootstrap interval over the units (`samples` resamples; 0: no interval, low and high NaN); `n` is the number of
    pairs."""
    units = [(acc, pairs) for acc, pairs in units if pairs and acc is not None and math.isfinite(acc)]
    pairs = sum(p for _, p in units)
    if not pairs:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}

    def weighted(sample):
        total = sum(p for _, p in sample)
        return sum(a * p for a, p in sample) / total

    if not samples:
        return {"mean": weighted(units), "low": math.nan, "high": math.nan, "n": pairs}
    rng = random.Random(seed)
    draws = sorted(weighted(rng.choices(units, k=len(units))) for _ in range(samples))
    return {
        "mean": weighted(units),
        "low": draws[int(0.025 * samples)],
        "high": draws[int(0.975 * samples) - 1],
        "n": pairs,
    }


PAID_WINDOW = 8  # steps at each end of a run over which the RM's pay is set beside the verified accuracy


def paid_figures(
    accuracy: list[float | None],
    reward: list[float | None],
    ranking: list[tuple[float | None, int]] | None = None,
    window: int = PAID_WINDOW,
) -> dict[str, dict[str, float | None]]:
    """What an RM paid against what the rule verified, over the first and the last `window` steps (at most half
    the steps each): {"first", "last"}, each with `verified` (the training batches' verified accuracy), `rm_reward`
    (the RM's mean reward, on the verifier's [0, 1] scale) and `overestimate` (their per-step difference, reward
    minus accuracy: a frozen RM being hacked shows it growing), and `rm_ranking`, the paying RM's held-out ranking
    accuracy on those steps' batches, pair-weighted (`ranking`: per step (accuracy, pairs); None without it).
    `reward` holds None on the steps no RM scored (a run without one: all None); those steps are left out, so both
    ends are steps an RM paid for. {} when too few steps are left."""
    paid = [i for i, r in enumerate(reward) if r is not None]
    steps = paid if paid else list(range(len(accuracy)))
    width = min(window, len(steps) // 2)
    if not width:
        return {}

    def mean(values) -> float | None:
        value = nan_safe_mean(values)
        return None if math.isnan(value) else value

    def figures(chosen: list[int]) -> dict[str, float | None]:
        return {
            "verified": mean(accuracy[i] for i in chosen),
            "rm_reward": mean(reward[i] for i in chosen),
            "overestimate": mean(
                reward[i] - accuracy[i] for i in chosen if reward[i] is not None and accuracy[i] is not None
            ),
            "rm_ranking": weighted([ranking[i] for i in chosen]) if ranking else None,
        }

    def weighted(units) -> float | None:
        cell = pair_weighted(units, samples=0)  # the mean only: no interval is reported per run
        return cell["mean"] if cell["n"] else None

    return {"first": figures(steps[:width]), "last": figures(steps[-width:])}
