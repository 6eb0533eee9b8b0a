"""Number formatting shared by the analyses' tables and sentences."""
from __future__ import annotations

import math

from harness.analysis.stats.accuracy import Interval


def num(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def p_value(p: float) -> str:
    return "n/a" if p is None or math.isnan(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def p_is(p: float) -> str:
    """``p<0.001`` or ``p=0.034``, for sentences."""
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def interval(iv: Interval, digits: int = 3, signed: bool = False) -> str:
    sign = "+" if signed else ""
    # Adding 0.0 turns -0.0 into 0.0, so an exact tie never prints as "-0.000".
    low, value, high = iv.low + 0.0, iv.value + 0.0, iv.high + 0.0
    return f"{value:{sign}.{digits}f} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def holm_note(n_tests: int, alpha: float) -> str:
    return (f"Holm-corrected across the {n_tests} tests of this table (family-wise error {alpha}); "
            f"* adjusted p < {alpha}")
