"""Seed replicates as the null: how often a reseeded copy of a backbone (same cell, another training
seed) solves an item the original misses, against how often another backbone does; and differences
in accuracy measured against the spread between seeds."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from harness.analysis.stats.accuracy import Interval, mcnemar
from harness.analysis.stats.intervals import paired_difference


@dataclass(frozen=True)
class Difference:
    """``B - A`` with its interval, the two-sided p of no difference, and the test that gave them."""

    value: Interval  # at the confidence it was asked for
    p_value: float
    test: str  # "Welch t over seeds (n_A + n_B runs)" or "exact McNemar over items"


def accuracy_difference(a_runs: np.ndarray, b_runs: np.ndarray, confidence: float = 0.95) -> Difference:
    """Accuracy of B minus A. With at least two replicates of each (runs x items 0/1 arrays): Welch's t
    test on the replicates' accuracies, so the seed spread is the noise; otherwise the exact paired
    interval and McNemar test of the first runs, over items (the seed spread is then not accounted for)."""
    a_runs, b_runs = np.atleast_2d(a_runs).astype(float), np.atleast_2d(b_runs).astype(float)
    if len(a_runs) >= 2 and len(b_runs) >= 2:
        acc_a, acc_b = a_runs.mean(axis=1), b_runs.mean(axis=1)
        value = float(acc_b.mean() - acc_a.mean())
        if acc_a.std() == 0 and acc_b.std() == 0:
            return Difference(Interval(value, value, value), 0.0 if value else 1.0,
                              f"Welch t over seeds ({len(a_runs)} + {len(b_runs)} runs, no spread)")
        test = stats.ttest_ind(acc_b, acc_a, equal_var=False)
        ci = test.confidence_interval(confidence)
        return Difference(Interval(value, float(ci.low), float(ci.high)), float(test.pvalue),
                          f"Welch t over seeds ({len(a_runs)} + {len(b_runs)} runs)")
    a, b = a_runs[0] >= 0.5, b_runs[0] >= 0.5
    return Difference(paired_difference(a, b, confidence), mcnemar(a, b, exact=True).p_value,
                      "exact McNemar over items (single runs: seed spread not measured)")


def flip_rate_per_item(runs: np.ndarray) -> np.ndarray:
    """Per item, the share of ordered pairs of distinct replicates (s, t) where s solves it and t does not:
    ``k (r - k) / (r (r - 1))`` with ``k`` of ``r`` replicates solving it."""
    runs = np.atleast_2d(runs).astype(bool)
    r = len(runs)
    if r < 2:
        raise ValueError("a flip rate needs at least two replicates")
    k = runs.sum(axis=0)
    return k * (r - k) / (r * (r - 1))


def exclusive_rate_per_item(x_runs: np.ndarray, y_runs: np.ndarray) -> np.ndarray:
    """Per item, the share of pairs (a run of X, a run of Y) where X solves it and Y does not."""
    x_runs, y_runs = np.atleast_2d(x_runs).astype(float), np.atleast_2d(y_runs).astype(float)
    return x_runs.mean(axis=0) * (1 - y_runs.mean(axis=0))


@dataclass(frozen=True)
class BeyondSeeds:
    """Does X solve items Y misses more often than a reseeded copy of the same backbone would?"""

    rate: float  # mean exclusive rate of X over Y
    null: float  # mean seed flip rate (replicates of the same backbone)
    excess: Interval  # rate - null, t interval over items
    p_value: float  # one-sided t test over items: excess > 0


def exclusive_beyond_seeds(x_runs: np.ndarray, y_runs: np.ndarray, null_runs: list[np.ndarray],
                           confidence: float = 0.95) -> BeyondSeeds:
    """``d_i = e_XY(i) - f(i)``: X's exclusive rate over Y on item i minus the seed flip rate ``f(i)``
    averaged over the backbones in ``null_runs`` with two or more replicates; one-sided one-sample t
    test of mean(d) > 0 over items (scipy), with the two-sided t interval of mean(d)."""
    nulls = [flip_rate_per_item(r) for r in null_runs if len(np.atleast_2d(r)) >= 2]
    if not nulls:
        raise ValueError("the seed null needs a backbone with at least two replicates")
    rate = exclusive_rate_per_item(x_runs, y_runs)
    null = np.mean(nulls, axis=0)
    d = rate - null
    mean = float(d.mean())
    if d.size < 2 or d.std() == 0:
        return BeyondSeeds(float(rate.mean()), float(null.mean()), Interval(mean, mean, mean),
                           0.0 if mean > 0 else 1.0)
    test = stats.ttest_1samp(d, 0.0, alternative="greater")
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(confidence)
    return BeyondSeeds(float(rate.mean()), float(null.mean()), Interval(mean, float(ci.low), float(ci.high)),
                       float(test.pvalue))


def items_needed(discordant: float, difference: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Items a paired comparison needs to detect ``difference`` with ``power`` at two-sided ``alpha``
    (McNemar, Connor 1987): ``n = (z_{1-α/2} sqrt(ψ) + z_{power} sqrt(ψ - δ²))² / δ²`` with ψ the share of
    discordant items (at least |δ|). None when δ is 0."""
    delta = abs(difference)
    if delta == 0 or math.isnan(delta):
        return None
    psi = max(discordant, delta)
    z_a, z_b = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    return int(math.ceil((z_a * math.sqrt(psi) + z_b * math.sqrt(max(psi - delta ** 2, 0.0))) ** 2 / delta ** 2))
