"""The statistics a study reports, as pure functions: Student-t intervals over seeds (clipped to the figure's range)
and pair-weighted ranking accuracy with a bootstrap interval (`orchestration.study_report` says why each)."""

from __future__ import annotations

import math
import random
import statistics

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


def pair_weighted(units: list[tuple[float, int]], seed: int = 0) -> dict[str, float]:
    """Pair-weighted ranking accuracy of (accuracy, pairs) units (one per step and seed) and its 95% percentile
    bootstrap interval over the units; `n` is the number of pairs."""
    units = [(acc, pairs) for acc, pairs in units if pairs and acc is not None and math.isfinite(acc)]
    pairs = sum(p for _, p in units)
    if not pairs:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}

    def weighted(sample):
        total = sum(p for _, p in sample)
        return sum(a * p for a, p in sample) / total

    rng = random.Random(seed)
    draws = sorted(weighted(rng.choices(units, k=len(units))) for _ in range(BOOTSTRAP_SAMPLES))
    return {
        "mean": weighted(units),
        "low": draws[int(0.025 * BOOTSTRAP_SAMPLES)],
        "high": draws[int(0.975 * BOOTSTRAP_SAMPLES) - 1],
        "n": pairs,
    }
