"""Correction for multiple comparisons: Holm's step-down adjustment of a family of p-values (statsmodels)."""
from __future__ import annotations

import math

import numpy as np


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order: the k-th smallest p times (m - k + 1), made monotone
    and capped at 1. Rejecting where the adjusted p < α keeps the family-wise error rate at α.
    NaN entries (no test) stay NaN and do not count in m."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    tested = ~np.isnan(p)
    if tested.any():
        out[tested] = multipletests(p[tested], method="holm")[1]
    return [float(v) for v in out]
