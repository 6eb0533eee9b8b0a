"""Helpers the built-in analyses share: a backbone's accuracy on a group (over its seeds when it has
replicates), the difference between two backbones, and the gate's reasons for a set of backbones."""
from __future__ import annotations

import numpy as np

from harness.analysis import CompareContext, Interval
from harness.analysis.replicates import seed_sweep_command
from harness.analysis.stats.intervals import clopper_pearson, mean_interval
from harness.analysis.stats.seeds import Difference, accuracy_difference

EQUIVALENCE_MARGIN = 0.05  # "no difference" needs the difference's 90% interval within +/- this


def accuracy(ctx: CompareContext, i: int, mask: np.ndarray) -> Interval:
    """Backbone i's accuracy on the group: with replicates the mean over seeds and its t interval over
    seeds; otherwise its run's Clopper-Pearson interval."""
    runs = ctx.replicate_correct(i)[:, mask]
    if len(runs) >= 2:
        return mean_interval(runs.mean(axis=1), 1 - ctx.alpha)
    return clopper_pearson(int(runs[0].sum()), int(mask.sum()), 1 - ctx.alpha)


def accuracy_text(ctx: CompareContext, i: int, mask: np.ndarray) -> str:
    from harness_plugins.analyses.text import interval

    iv = accuracy(ctx, i, mask)
    runs = ctx.n_replicates(i)
    spread = f" sd {np.std(ctx.replicate_correct(i)[:, mask].mean(axis=1), ddof=1):.3f} n={runs}" if runs >= 2 else ""
    return interval(iv) + spread


def difference(ctx: CompareContext, i: int, j: int, mask: np.ndarray, confidence: float | None = None) -> Difference:
    """Accuracy of backbone j minus backbone i on the group (Welch over seeds, or exact over items)."""
    return accuracy_difference(ctx.replicate_correct(i)[:, mask], ctx.replicate_correct(j)[:, mask],
                               1 - ctx.alpha if confidence is None else confidence)


def equivalent(ctx: CompareContext, i: int, j: int, mask: np.ndarray) -> tuple[bool, Interval]:
    """Two one-sided tests at alpha: the difference's (1 - 2 alpha) interval lies within the margin."""
    iv = difference(ctx, i, j, mask, 1 - 2 * ctx.alpha).value
    return (-EQUIVALENCE_MARGIN < iv.low and iv.high < EQUIVALENCE_MARGIN), iv


def gate_problems(ctx: CompareContext, indices: list[int], group: str) -> list[str]:
    """Why the backbones ``indices`` cannot be read on ``group`` (empty: all pass the gate)."""
    return [p for i in indices for p in ctx.competence(i, group).problems]


def has_replicates(ctx: CompareContext, indices: list[int]) -> bool:
    return any(ctx.n_replicates(i) >= 2 for i in indices)


def replicates_hint(ctx: CompareContext, indices: list[int]) -> str:
    return seed_sweep_command(ctx.task, [ctx.runs[i].backbone for i in indices])


def newer_better(ctx: CompareContext, pairs: list[tuple[int, int]], diffs: list[Interval], adjusted: list[float],
                 what: str) -> tuple[list[str], list[str]]:
    """Significant pairs (Holm-adjusted p < alpha) of a lower-is-better measure whose difference is
    ``diffs[k] = value[j] - value[i]``: sentences where the newer generation is lower, and where it is higher."""
    from harness_plugins.analyses.text import interval, p_is

    gen = ctx.by_generation()
    better, worse = [], []
    for (i, j), d, p in zip(pairs, diffs, adjusted):
        if p >= ctx.alpha:
            continue
        newer, older = (j, i) if gen.index(j) > gen.index(i) else (i, j)
        lower = (d.value < 0) == (newer == j)
        (better if lower else worse).append(
            f"{ctx.labels[newer]} vs {ctx.labels[older]}: {what} {'lower' if lower else 'higher'} by {abs(d.value):.3f} "
            f"({ctx.labels[j]} - {ctx.labels[i]} {interval(d, signed=True)}, Holm {p_is(p)})")
    return better, worse
