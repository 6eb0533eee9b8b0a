"""Overlap of per-item correctness between two systems: the 2x2 counts, phi and Cohen's kappa."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Overlap:
    """Items solved by both, only A, only B, neither; with phi and kappa of the two 0/1 vectors."""

    both: int
    only_a: int
    only_b: int
    neither: int
    phi: float  # nan when either system is constant (solves all or none)
    kappa: float

    @property
    def n(self) -> int:
        return self.both + self.only_a + self.only_b + self.neither


def phi_coefficient(both: int, only_a: int, only_b: int, neither: int) -> float:
    """Pearson correlation of two 0/1 vectors from their 2x2 table: (ad - bc) / sqrt(row and column sums)."""
    denominator = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    if denominator == 0:
        return math.nan
    return (both * neither - only_a * only_b) / math.sqrt(denominator)


def cohen_kappa(both: int, only_a: int, only_b: int, neither: int) -> float:
    """Agreement beyond chance: (p_o - p_e) / (1 - p_e), p_e from the two marginal solve rates."""
    n = both + only_a + only_b + neither
    if n == 0:
        return math.nan
    observed = (both + neither) / n
    rate_a, rate_b = (both + only_a) / n, (both + only_b) / n
    expected = rate_a * rate_b + (1 - rate_a) * (1 - rate_b)
    if expected == 1:
        return math.nan
    return (observed - expected) / (1 - expected)


def overlap(correct_a: np.ndarray, correct_b: np.ndarray) -> Overlap:
    a = np.asarray(correct_a).astype(bool)
    b = np.asarray(correct_b).astype(bool)
    if a.shape != b.shape:
        raise ValueError("both systems must be scored on the same items")
    cells = (int(np.sum(a & b)), int(np.sum(a & ~b)), int(np.sum(~a & b)), int(np.sum(~a & ~b)))
    return Overlap(*cells, phi=phi_coefficient(*cells), kappa=cohen_kappa(*cells))
