"""Paired percentile bootstrap over items for any per-item measure: draws, intervals and two-sided p."""
from __future__ import annotations

import numpy as np

from harness.analysis.stats.accuracy import Interval


def paired_mean_draws(values: np.ndarray, n_resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """Means of each system (rows of a systems x items array) over ``n_resamples`` resamples of the items,
    the same resample for every system: an array of resamples x systems."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    k, n = values.shape
    rng = np.random.default_rng(seed)
    draws = np.empty((n_resamples, k))
    for start in range(0, n_resamples, 256):  # chunks keep memory at (chunk x items) whatever n_resamples is
        stop = min(start + 256, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        draws[start:stop] = values[:, idx].mean(axis=2).T
    return draws


def percentile(value: float, draws: np.ndarray, alpha: float = 0.05) -> Interval:
    """``value`` with the (alpha/2, 1 - alpha/2) percentiles of its bootstrap draws."""
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return Interval(float(value), float(low), float(high))


def bootstrap_p(draws: np.ndarray) -> float:
    """Two-sided bootstrap p of no difference: ``2 min(P*(d <= 0), P*(d >= 0))``, at most 1."""
    draws = np.asarray(draws, dtype=float)
    return float(min(1.0, 2 * min(np.mean(draws <= 0), np.mean(draws >= 0))))
