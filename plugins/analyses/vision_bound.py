"""Analysis: vision-bound groups. A group is vision-bound when every backbone uses the image (its
accuracy is above its blind baseline, with every image blanked) and the backbones do not differ
beyond noise (every pairwise difference within an equivalence margin): the shared vision encoder, not
the LLM, then limits the group. When no backbone beats its blind baseline the finding is that the VLMs
do not use the image there, never "vision-bound"."""
from __future__ import annotations

from harness.analysis import (INCONCLUSIVE, NOT_INTERPRETABLE, NOT_SHOWN, SHOWN, AnalysisResult, CompareContext,
                              StudyFinding, Table)
from harness.analysis.gate import MIN_ITEMS
from harness.analysis.stats.multiplicity import holm
from harness_plugins.analyses.common import EQUIVALENCE_MARGIN, difference, equivalent
from harness_plugins.analyses.text import interval, p_is

AT_CEILING = 0.95  # every backbone at or above this: nothing left for a backbone to add


def analyze(ctx: CompareContext) -> AnalysisResult:
    table = Table("Vision-bound groups", ["group", "items"] + [f"{l} image benefit" for l in ctx.labels]
                  + ["largest |B - A| (90%)", "verdict"],
                  note=f"image benefit: accuracy minus blind accuracy, exact paired {1 - ctx.alpha:.0%} interval; "
                       f"vision-bound: every backbone's benefit above 0 and every pairwise difference's 90% interval "
                       f"within ±{EQUIVALENCE_MARGIN} (Welch over seeds where there are replicates, else exact over "
                       f"items); a significant pairwise difference (Holm-corrected) means the backbone matters; groups "
                       f"under {MIN_ITEMS} items get no verdict")
    data: dict = {"groups": {}}
    if ctx.blind is None or any(ctx.blind_correct(i) is None for i in range(len(ctx.labels))):
        missing = [l for i, l in enumerate(ctx.labels) if ctx.blind_correct(i) is None]
        sentence = (f"Vision-bound groups cannot be told on {ctx.task}: no blind baseline for {', '.join(missing)} "
                    "(rerun with eval.blind=true).")
        return AnalysisResult("vision_bound", "Vision-bound groups", [table], [sentence], data,
                              study=[StudyFinding("vision_bound", NOT_INTERPRETABLE, "", sentence)])
    groups = {g: m for g, m in ctx.groups().items() if m.sum() >= MIN_ITEMS}
    tests = [(g, i, j, difference(ctx, i, j, m)) for g, m in groups.items() for i, j in ctx.pairs()]
    adjusted = dict(zip([(g, i, j) for g, i, j, _ in tests], holm([d.p_value for *_, d in tests])))
    findings, bound, unused, blocked = [], [], [], []
    for group, mask in ctx.groups().items():
        n = int(mask.sum())
        gates = [ctx.competence(i, group) for i in range(len(ctx.labels))]
        cells = [interval(g.benefit, signed=True) for g in gates]
        widest, kind = "", ""
        if n < MIN_ITEMS:
            kind = "too few items"
        elif not any(g.benefit.low > 0 for g in gates):
            kind = "the VLMs do not use the image"
            unused.append(f"{ctx.group_text(group)} ({', '.join(f'{l} {c}' for l, c in zip(ctx.labels, cells))})")
        elif any(not g.ok for g in gates):
            kind = "not interpretable"
            blocked.extend(p for g in gates for p in g.problems)
        elif all(g.accuracy.value >= AT_CEILING for g in gates):
            kind = "at ceiling"
        else:
            same = [equivalent(ctx, i, j, mask) for i, j in ctx.pairs()]
            widest_iv = max((iv for _, iv in same), key=lambda iv: max(abs(iv.low), abs(iv.high)))
            widest = interval(widest_iv, signed=True)
            differ = [(i, j) for i, j in ctx.pairs() if adjusted[(group, i, j)] < ctx.alpha]
            if differ:
                i, j = differ[0]
                kind = f"backbone matters ({ctx.labels[j]} - {ctx.labels[i]}, Holm {p_is(adjusted[(group, i, j)])})"
            elif all(ok for ok, _ in same):
                kind = "vision-bound"
                bound.append(f"{ctx.group_text(group)} on {ctx.task} is vision-bound: every backbone uses the image "
                             f"(benefit {', '.join(f'{l} {c}' for l, c in zip(ctx.labels, cells))}) and no pair differs by "
                             f"more than ±{EQUIVALENCE_MARGIN} (widest 90% interval {widest})")
            else:
                kind = "inconclusive (no difference shown, no equivalence either)"
        table.rows.append([ctx.group_label(group), str(n)] + cells + [widest, kind])
        data["groups"][group] = {"items": n, "verdict": kind,
                                 "benefit": {l: vars(g.benefit) for l, g in zip(ctx.labels, gates)},
                                 "accuracy": {l: g.accuracy.value for l, g in zip(ctx.labels, gates)},
                                 "blind": {l: g.blind for l, g in zip(ctx.labels, gates)}}
    findings += [s + "." for s in bound]
    if unused:
        findings.append(f"The VLMs do not use the image on {'; '.join(unused)}: no backbone beats its blind baseline.")
    result = AnalysisResult("vision_bound", "Vision-bound groups", [table], findings, data)
    if bound:
        result.study.append(StudyFinding("vision_bound", SHOWN, bound[0].split(": ")[0], bound[0] + "."))
    elif unused and "all" in [g for g, e in data["groups"].items() if e["verdict"] == "the VLMs do not use the image"]:
        result.study.append(StudyFinding("vision_bound", NOT_INTERPRETABLE, "no image benefit",
                                         f"The VLMs do not use the image on {ctx.task}: no backbone beats its blind baseline."))
    elif blocked:
        result.study.append(StudyFinding("vision_bound", NOT_INTERPRETABLE, "", "; ".join(blocked[:2]) + "."))
    elif any(e["verdict"].startswith("inconclusive") for e in data["groups"].values()):
        result.study.append(StudyFinding("vision_bound", INCONCLUSIVE, "", "Some groups neither separate the backbones "
                                         "nor show them equivalent within the margin."))
    else:
        result.study.append(StudyFinding("vision_bound", NOT_SHOWN, "", f"No group of {ctx.task} is vision-bound."))
    if not result.findings:
        result.findings.append(result.study[-1].sentence)
    return result
