"""Accuracy with uncertainty: a paired bootstrap over items, and McNemar's test for two backbones."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile-bootstrap interval."""

    value: float
    low: float
    high: float

    def overlaps(self, other: "Interval") -> bool:
        return self.low <= other.high and other.low <= self.high


@dataclass(frozen=True)
class PairedBootstrap:
    """Accuracy intervals per system and intervals of every pairwise difference, from one resampling."""

    accuracy: list[Interval]
    difference: dict[tuple[int, int], Interval]  # (i, j) -> accuracy[i] - accuracy[j]


def paired_bootstrap(correct: np.ndarray, n_resamples: int = 2000, confidence: float = 0.95,
                     seed: int = 0) -> PairedBootstrap:
    """Percentile bootstrap of accuracy for ``correct`` (systems x items, 0/1 or scores in [0, 1]).

    The same resampled items are used for every system in a replicate (paired), so the intervals of
    differences account for items that are hard for everyone.
    """
    correct = np.asarray(correct, dtype=float)
    if correct.ndim != 2 or correct.shape[1] == 0:
        raise ValueError("correct must be a non-empty (systems x items) array")
    from harness.analysis.stats.bootstrap import paired_mean_draws

    k = correct.shape[0]
    means = paired_mean_draws(correct, n_resamples, seed)
    alpha = (1 - confidence) / 2
    point = correct.mean(axis=1)

    def interval(value: float, draws: np.ndarray) -> Interval:
        low, high = np.quantile(draws, [alpha, 1 - alpha])
        return Interval(float(value), float(low), float(high))

    acc = [interval(point[i], means[:, i]) for i in range(k)]
    diff = {(i, j): interval(point[i] - point[j], means[:, i] - means[:, j])
            for i in range(k) for j in range(k) if i < j}
    return PairedBootstrap(acc, diff)


@dataclass(frozen=True)
class McNemar:
    """McNemar's test on the discordant items of two systems."""

    only_a: int  # items A solves and B misses
    only_b: int
    statistic: float  # exact: min(only_a, only_b); chi-square: the corrected statistic
    p_value: float
    exact: bool


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray, exact: bool | None = None) -> McNemar:
    """McNemar's test of equal accuracy for paired 0/1 outcomes.

    ``exact``: the two-sided binomial test on the discordant pairs; otherwise the chi-square
    statistic with continuity correction, (|b - c| - 1)^2 / (b + c), on one degree of freedom.
    ``None`` picks exact when there are fewer than 25 discordant pairs (the usual rule).
    """
    a = np.asarray(correct_a).astype(bool)
    b = np.asarray(correct_b).astype(bool)
    if a.shape != b.shape:
        raise ValueError("both systems must be scored on the same items")
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    discordant = only_a + only_b
    if exact is None:
        exact = discordant < 25
    if discordant == 0:
        return McNemar(only_a, only_b, 0.0, 1.0, exact)
    if exact:
        low = min(only_a, only_b)
        p = min(1.0, 2.0 * stats.binom.cdf(low, discordant, 0.5))
        return McNemar(only_a, only_b, float(low), float(p), True)
    chi2 = (abs(only_a - only_b) - 1) ** 2 / discordant
    return McNemar(only_a, only_b, float(chi2), float(stats.chi2.sf(chi2, 1)), False)
