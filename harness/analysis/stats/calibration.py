"""Calibration of confidence against correctness: ECE (equal-width and equal-mass bins), Brier, AUROC."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability diagram."""

    low: float  # confidence range of the bin
    high: float
    count: int
    mean_confidence: float
    accuracy: float


def _check(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidence, dtype=float)
    corr = np.asarray(correct, dtype=float)
    if conf.shape != corr.shape or conf.ndim != 1 or conf.size == 0:
        raise ValueError("confidence and correct must be 1-D arrays of the same, non-zero length")
    if np.any((conf < 0) | (conf > 1)) or np.any(np.isnan(conf)):
        raise ValueError("confidences must lie in [0, 1]")
    return conf, corr


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10,
                     strategy: str = "width") -> list[ReliabilityBin]:
    """Non-empty bins. ``width``: [0, 1/M], (1/M, 2/M], ...; ``mass``: items sorted by confidence,
    cut into M groups of equal size (sizes differ by at most one)."""
    conf, corr = _check(confidence, correct)
    if strategy == "width":
        # Bin i holds (i/M, (i+1)/M]; confidence 0 joins the first bin.
        index = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
        groups = [np.flatnonzero(index == i) for i in range(n_bins)]
        edges = [(i / n_bins, (i + 1) / n_bins) for i in range(n_bins)]
    elif strategy == "mass":
        order = np.argsort(conf, kind="stable")
        groups = np.array_split(order, min(n_bins, conf.size))
        edges = [(float(conf[g].min()), float(conf[g].max())) if g.size else (math.nan, math.nan) for g in groups]
    else:
        raise ValueError(f"unknown binning strategy {strategy!r} (width or mass)")
    return [ReliabilityBin(lo, hi, int(g.size), float(conf[g].mean()), float(corr[g].mean()))
            for g, (lo, hi) in zip(groups, edges) if g.size]


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10,
                               strategy: str = "width") -> float:
    """ECE = sum over bins b of (n_b / N) * |accuracy_b - mean confidence_b|."""
    bins = reliability_bins(confidence, correct, n_bins, strategy)
    total = sum(b.count for b in bins)
    return float(sum(b.count / total * abs(b.accuracy - b.mean_confidence) for b in bins))


def brier_score(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Mean squared difference between confidence and the 0/1 outcome."""
    conf, corr = _check(confidence, correct)
    return float(np.mean((conf - corr) ** 2))


def auroc(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Probability that a correct item gets a higher confidence than a wrong one (ties count half);
    nan when every item is correct or every item is wrong."""
    conf, corr = _check(confidence, correct)
    positive = corr > 0.5
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = stats.rankdata(conf)  # average ranks: a tie between classes counts one half
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def ece_bootstrap(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10, n_resamples: int = 2000,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width ECE of each system (rows of systems x items arrays) and its paired bootstrap draws.

    ECE is ``(1/N) Σ_bins |Σ_{i in bin} (y_i - c_i)|``; a resample weighs item i by how often it was
    drawn, the same draw for every system. Returns (points, draws of shape resamples x systems)."""
    conf = np.atleast_2d(np.asarray(confidence, dtype=float))
    corr = np.atleast_2d(np.asarray(correct, dtype=float))
    k, n = conf.shape
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    gap = corr - conf
    rng = np.random.default_rng(seed)
    draws = np.empty((n_resamples, k))
    points = np.array([sum(abs(gap[s, bins[s] == b].sum()) for b in range(n_bins)) / n for s in range(k)])
    for start in range(0, n_resamples, 256):
        stop = min(start + 256, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        weights = np.stack([np.bincount(row, minlength=n) for row in idx]).astype(float)  # resamples x items
        for s in range(k):
            total = np.zeros(stop - start)
            for b in range(n_bins):
                member = bins[s] == b
                if member.any():
                    total += np.abs(weights[:, member] @ gap[s, member])
            draws[start:stop, s] = total / n
    return points, draws
