"""Statistics over seeds against numpy and against an independent bootstrap written as a loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dgl_engine import stats


def test_mean_and_sample_std_on_known_values():
    # 1, 2, 3, 4: mean 2.5; squared deviations sum to 5, over n - 1 = 3: std sqrt(5/3).
    assert stats.describe([1, 2, 3, 4]) == {"mean": 2.5, "std": pytest.approx(math.sqrt(5 / 3)), "n": 4}
    x = [0.712, 0.745, 0.701, 0.733, 0.728]
    d = stats.describe(x)
    assert d["mean"] == pytest.approx(np.mean(x)) and d["std"] == pytest.approx(np.std(x, ddof=1))
    assert d["std"] != pytest.approx(np.std(x))  # ddof=1, not the population deviation


def test_one_seed_has_no_std_and_empty_or_bad_input_is_refused():
    assert stats.describe([0.7]) == {"mean": 0.7, "std": None, "n": 1}
    for bad in ([], [0.5, float("nan")], [[0.1, 0.2]]):
        with pytest.raises(ValueError):
            stats.describe(bad)


def _loop_bootstrap(values, resamples, seed, level=0.95):
    """The percentile bootstrap, written independently: one resample at a time."""
    rng = np.random.default_rng(seed)
    x = list(values)
    means = []
    for _ in range(resamples):
        idx = rng.integers(0, len(x), size=len(x))
        means.append(sum(x[i] for i in idx) / len(x))
    return tuple(np.percentile(means, [100 * (1 - level) / 2, 100 * (1 + level) / 2]))


@pytest.mark.parametrize("seed", [0, 7])
def test_bootstrap_interval_matches_an_independent_implementation(seed):
    d = [0.071, 0.054, 0.060, 0.038, 0.083]
    lo, hi = stats.bootstrap_ci(d, seed=seed)
    assert (lo, hi) == pytest.approx(_loop_bootstrap(d, stats.RESAMPLES, seed), abs=1e-12)
    assert min(d) < lo < np.mean(d) < hi < max(d)


def test_bootstrap_is_seeded_and_its_seed_matters():
    d = [0.1, -0.2, 0.3, 0.05, 0.0, 0.12]
    assert stats.bootstrap_ci(d) == stats.bootstrap_ci(d)
    assert stats.bootstrap_ci(d, seed=1) != stats.bootstrap_ci(d, seed=2)


def test_a_constant_paired_difference_has_a_zero_width_interval():
    joint = [0.70, 0.81, 0.66, 0.75]
    dgl = [j + 0.05 for j in joint]
    p = stats.paired(dgl, joint)
    assert p["n"] == 4 and p["mean"] == pytest.approx(0.05)
    assert p["ci95"] == pytest.approx([0.05, 0.05], abs=1e-12)


def test_paired_difference_is_taken_seed_by_seed():
    # Large spread between seeds, a small consistent gain: unpaired intervals would straddle 0.
    joint = [0.50, 0.90, 0.60, 0.80, 0.70]
    dgl = [0.52, 0.93, 0.61, 0.83, 0.72]
    p = stats.paired(dgl, joint)
    assert p["mean"] == pytest.approx(0.022)
    assert 0 < p["ci95"][0] < p["mean"] < p["ci95"][1] < 0.04
    assert stats.paired([0.6], [0.5]) == {"mean": pytest.approx(0.1), "ci95": None, "n": 1}
    with pytest.raises(ValueError):
        stats.paired([0.1, 0.2], [0.1])


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    """Coverage sanity on normal data with 20 seeds (the percentile bootstrap is a little narrow:
    about 94%); an interval over the values instead of their mean would cover 100%."""
    rng = np.random.default_rng(123)
    trials, covered = 200, 0
    for t in range(trials):
        x = rng.normal(0.05, 0.02, size=20)
        lo, hi = stats.bootstrap_ci(x, resamples=2000, seed=t)
        covered += lo <= 0.05 <= hi
    assert 0.88 <= covered / trials <= 0.99


def test_band_is_mean_and_std_or_min_max_per_point():
    curves = [[0.1, 0.5, 0.7], [0.2, 0.4, 0.9], [0.3, 0.6, 0.8]]
    y = np.array(curves)
    mean, lo, hi = stats.band(curves, "std")
    assert mean == pytest.approx(y.mean(0)) and hi - mean == pytest.approx(y.std(0, ddof=1))
    assert mean - lo == pytest.approx(y.std(0, ddof=1))
    mean, lo, hi = stats.band(curves, "minmax")
    assert lo == pytest.approx(y.min(0)) and hi == pytest.approx(y.max(0))
    _, lo, hi = stats.band([[0.1, 0.2]], "std")  # one seed: no band
    assert lo == pytest.approx([0.1, 0.2]) and hi == pytest.approx([0.1, 0.2])
    with pytest.raises(ValueError, match="minmax"):
        stats.band(curves, "iqr")
