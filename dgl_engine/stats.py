"""Statistics over seeds: what a study reports about a metric and about a difference between methods.

    describe([0.71, 0.74, 0.70])          # {"mean": 0.7167, "std": 0.0208, "n": 3}
    paired([0.78, 0.80], [0.71, 0.74])    # dgl minus joint, seed by seed: {"mean", "ci95": [lo, hi], "n"}

``std`` is the sample standard deviation (``ddof=1``, the unbiased variance's root), None for a
single seed, where it is undefined. A paired difference is taken seed by seed (the two methods
trained in lockstep on the same seed's data, weights and batches), so what the seed changes for
both cancels. Its 95% interval is a percentile bootstrap over seeds: 10,000 resamples of the
seeds with replacement, from a seeded numpy Generator, so the same numbers always give the same
interval. With few seeds the percentile bootstrap is too narrow: for normal data it covers the
true mean about 74% of the time with 3 seeds, 84% with 5, 89% with 10 and 94% with 20 (simulated,
400 trials each). Read it as a guide, not a test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
DDOF = 1  # sample standard deviation


def _array(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError("expected a flat list of finite numbers")
    return x


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """(mean, sample standard deviation); the deviation is None for fewer than two values."""
    x = _array(values)
    if x.size == 0:
        raise ValueError("no values")
    return float(x.mean()), (float(x.std(ddof=DDOF)) if x.size > 1 else None)


def describe(values: Sequence[float]) -> dict:
    """{"mean", "std", "n"} of a metric over seeds (std: ddof=1; None for one seed)."""
    mean, std = mean_std(values)
    return {"mean": mean, "std": std, "n": len(values)}


def bootstrap_ci(values: Sequence[float], level: float = 0.95, resamples: int = RESAMPLES,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean: resample the values with replacement
    ``resamples`` times (indices from ``np.random.default_rng(seed).integers``), take each
    resample's mean, and return the (1 - level) / 2 and (1 + level) / 2 quantiles of those means."""
    x = _array(values)
    if x.size == 0:
        raise ValueError("no values")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)  # (resamples,)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def paired(a: Sequence[float], b: Sequence[float], resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """a - b seed by seed: {"mean", "ci95": [lo, hi] (None for one pair), "n"}."""
    x, y = _array(a), _array(b)
    if x.size != y.size:
        raise ValueError(f"paired values need as many of each, got {x.size} and {y.size}")
    d = x - y
    ci = bootstrap_ci(d, 0.95, resamples, seed) if d.size > 1 else None
    return {"mean": float(d.mean()), "ci95": list(ci) if ci else None, "n": int(d.size)}


def band(curves: Sequence[Sequence[float]], kind: str = "std") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) per point of curves of equal length (one per seed): low/high are
    mean -/+ one sample standard deviation (``kind="std"``) or the min and max (``"minmax"``)."""
    y = np.asarray(curves, dtype=float)  # (seeds, points)
    if y.ndim != 2 or y.shape[0] == 0:
        raise ValueError("expected one curve per seed, all of one length")
    mean = y.mean(axis=0)
    if kind == "minmax":
        return mean, y.min(axis=0), y.max(axis=0)
    if kind != "std":
        raise ValueError(f"unknown band {kind!r}; valid: std, minmax")
    std = y.std(axis=0, ddof=DDOF) if y.shape[0] > 1 else np.zeros_like(mean)
    return mean, mean - std, mean + std
