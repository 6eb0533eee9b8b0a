"""Exact and small-sample intervals: a rate's Clopper-Pearson interval, the exact interval of a paired
difference of two rates, and the t interval of a mean over seeds or items."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from harness.analysis.stats.accuracy import Interval


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """The exact binomial interval of ``successes / n`` (statsmodels ``proportion_confint(method="beta")``):
    ``[Beta(α/2; k, n-k+1), Beta(1-α/2; k+1, n-k)]``, ``[0, ...]`` at 0/n and ``[..., 1]`` at n/n."""
    from statsmodels.stats.proportion import proportion_confint

    if n <= 0:
        return Interval(math.nan, math.nan, math.nan)
    low, high = proportion_confint(int(successes), int(n), alpha=1 - confidence, method="beta")
    return Interval(successes / n, float(low), float(high))


def paired_difference(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> Interval:
    """``mean(b) - mean(a)`` of paired 0/1 outcomes with an exact interval conditional on the discordant items.

    With ``m = #(a=0, b=1) + #(a=1, b=0)`` discordant items of ``n``, the difference is
    ``(m / n)(2p - 1)`` where ``p`` is the share of discordant items that ``b`` wins; the interval maps
    ``p``'s Clopper-Pearson interval through it. No discordant item: ``[0, 0]``. Its test is the exact
    McNemar test (the interval excludes 0 where the two-sided exact McNemar ``p < 1 - confidence``).
    """
    a, b = np.asarray(a).astype(bool), np.asarray(b).astype(bool)
    n = a.size
    wins, losses = int(np.sum(~a & b)), int(np.sum(a & ~b))
    m = wins + losses
    value = (wins - losses) / n if n else math.nan
    if m == 0:
        return Interval(value, 0.0, 0.0)
    p = clopper_pearson(wins, m, confidence)
    return Interval(value, m / n * (2 * p.low - 1), m / n * (2 * p.high - 1))


def mean_interval(values: np.ndarray, confidence: float = 0.95) -> Interval:
    """The mean with its Student t interval, ``mean ± t_{n-1} s / sqrt(n)`` (scipy); a point for n < 2
    or no spread."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean()) if values.size else math.nan
    if values.size < 2 or float(values.std()) == 0.0:
        return Interval(mean, mean, mean)
    low, high = stats.t.interval(confidence, values.size - 1, loc=mean, scale=stats.sem(values))
    return Interval(mean, float(low), float(high))
