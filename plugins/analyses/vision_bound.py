"""Analysis: vision-bound groups, where no backbone differs significantly from another (intervals
overlap and McNemar is not significant) while all sit well below the ceiling, so the shared vision
encoder, not the LLM, is the likely bottleneck."""
from __future__ import annotations

from harness_plugins.analyses.context import CompareContext
from harness_plugins.analyses.result import AnalysisResult, Table
from harness_plugins.analyses.stats.accuracy import mcnemar
from harness_plugins.analyses.text import num, p_is, p_value

CEILING = 1.0
BELOW_CEILING_BY = 0.2  # "well below": every backbone at most CEILING - 0.2
MIN_ITEMS = 20  # with fewer items nothing is ever significant, so no verdict


def analyze(ctx: CompareContext) -> AnalysisResult:
    table = Table("Vision-bound groups", ["group", "items"] + ctx.labels + ["intervals overlap", "min McNemar p", "verdict"],
                  note=f"vision-bound: all intervals overlap, every McNemar p >= {ctx.alpha}, every accuracy <= "
                       f"{CEILING - BELOW_CEILING_BY:.2f}; groups under {MIN_ITEMS} items get no verdict")
    data: dict = {"groups": {}}
    findings = []
    for group, mask in ctx.groups().items():
        boot = ctx.bootstrap(group)
        accs = [iv.value for iv in boot.accuracy]
        overlap = all(boot.accuracy[i].overlaps(boot.accuracy[j]) for i, j in ctx.pairs())
        min_p = min(mcnemar(ctx.correct[i, mask], ctx.correct[j, mask]).p_value for i, j in ctx.pairs())
        n = int(mask.sum())
        if n < MIN_ITEMS:
            kind = "too few items"
        elif not overlap or min_p < ctx.alpha:
            kind = "backbone matters"
        elif max(accs) > CEILING - BELOW_CEILING_BY:
            kind = "near ceiling"
        else:
            kind = "vision-bound"
        table.rows.append([ctx.group_label(group), str(n)] + [num(a) for a in accs]
                          + ["yes" if overlap else "no", p_value(min_p), kind])
        data["groups"][group] = {"items": n, "accuracy": dict(zip(ctx.labels, accs)), "intervals_overlap": overlap,
                                 "min_p_value": min_p, "verdict": kind}
        if kind == "vision-bound":
            findings.append(f"{ctx.group_label(group)} on {ctx.task} looks vision-bound: no backbone differs "
                            f"(intervals overlap, smallest McNemar {p_is(min_p)}) while all stay at or below "
                            f"{num(max(accs))} ({n} items).")
    if not findings:
        findings.append(f"No group of {ctx.task} is vision-bound: each one either separates the backbones or "
                        "sits near the ceiling (or has too few items to tell).")
    return AnalysisResult("vision_bound", "Vision-bound groups", [table], findings, data)
