"""Analysis: accuracy per backbone and capability group (Clopper-Pearson intervals, or the mean and
spread over seed replicates), and pairwise differences (Welch over seeds, or exact McNemar over items),
Holm-corrected. Its study finding: the gain of the newest generation over the oldest on this task."""
from __future__ import annotations

from harness.analysis import INCONCLUSIVE, NOT_INTERPRETABLE, AnalysisResult, CompareContext, StudyFinding, Table
from harness.analysis.gate import MIN_ITEMS
from harness.analysis.stats.multiplicity import holm
from harness_plugins.analyses.common import EQUIVALENCE_MARGIN, accuracy_text, difference, equivalent, gate_problems
from harness_plugins.analyses.text import holm_note, interval, p_is, p_value


def analyze(ctx: CompareContext) -> AnalysisResult:
    level = f"{1 - ctx.alpha:.0%}"
    acc = Table(f"Accuracy with {level} interval", ["group", "items"] + ctx.labels,
                note="Clopper-Pearson interval of one run; with seed replicates the mean over seeds, its t interval "
                     "over seeds, the seeds' standard deviation and their number; † not interpretable (competence gate)")
    tests = Table("Pairwise differences", ["group", "A", "B", "B - A [interval]", "test", "p", "Holm p"])
    data: dict = {"groups": {}}
    rows = []
    for group, mask in ctx.groups().items():
        acc.rows.append([ctx.group_label(group), str(int(mask.sum()))]
                        + [accuracy_text(ctx, i, mask) + ("" if ctx.competence(i, group).ok else " †")
                           for i in range(len(ctx.labels))])
        data["groups"][group] = {"items": int(mask.sum()), "pairs": [],
                                 "competent": {l: ctx.competence(i, group).ok for i, l in enumerate(ctx.labels)}}
        for i, j in ctx.pairs():
            d = difference(ctx, i, j, mask)
            rows.append((group, i, j, d))
    adjusted = holm([d.p_value for *_, d in rows])
    for (group, i, j, d), p_adj in zip(rows, adjusted):
        star = "*" if p_adj < ctx.alpha else ""
        readable = not gate_problems(ctx, [i, j], group)
        tests.rows.append([ctx.group_label(group), ctx.labels[i], ctx.labels[j], interval(d.value, signed=True),
                           d.test, p_value(d.p_value), p_value(p_adj) + star + ("" if readable else " †")])
        data["groups"][group]["pairs"].append({"a": ctx.labels[i], "b": ctx.labels[j], "difference_b_minus_a": vars(d.value),
                                               "test": d.test, "p_value": d.p_value, "holm_p": p_adj,
                                               "interpretable": readable})
    tests.note = holm_note(len(rows), ctx.alpha) + "; † involves a run that is not interpretable"
    result = AnalysisResult("accuracy", "Accuracy with uncertainty", [acc, tests], data=data)
    result.findings.append(f"On {ctx.task} ({ctx.n_items} items) accuracy is "
                           + ", ".join(f"{l} {accuracy_text(ctx, i, ctx.groups()['all'])}" for i, l in enumerate(ctx.labels)) + ".")
    significant = [p for p in data["groups"]["all"]["pairs"] if p["holm_p"] < ctx.alpha and p["interpretable"]]
    if significant:
        result.findings.append("Significant overall differences (Holm-corrected): " + "; ".join(
            f"{p['b']} vs {p['a']} {p['difference_b_minus_a']['value'] + 0.0:+.3f} (Holm {p_is(p['holm_p'])})"
            for p in significant) + ".")
    else:
        result.findings.append(f"No interpretable pair of backbones differs significantly overall (Holm-corrected, "
                               f"all adjusted p >= {ctx.alpha} or a run below its baselines).")
    result.study.append(gain(ctx, {(g, i, j): p for (g, i, j, _), p in zip(rows, adjusted)}))
    return result


def gain(ctx: CompareContext, adjusted: dict) -> StudyFinding:
    """The newest generation against the oldest on the whole task: gain, loss, no gain (equivalent
    within the margin), inconclusive, or not interpretable."""
    order = ctx.by_generation()
    old, new = order[0], order[-1]
    mask = ctx.groups()["all"]
    problems = gate_problems(ctx, [old, new], "all")
    i, j = min(old, new), max(old, new)
    d = difference(ctx, old, new, mask)
    p = adjusted[("all", i, j)]
    what = f"{ctx.labels[new]} - {ctx.labels[old]} {interval(d.value, signed=True)} ({d.test}, Holm {p_is(p)})"
    if problems:
        return StudyFinding("gains", NOT_INTERPRETABLE, what, "; ".join(problems))
    if ctx.n_items < MIN_ITEMS:
        return StudyFinding("gains", INCONCLUSIVE, what, f"too few items ({ctx.n_items} < {MIN_ITEMS})")
    same, iv90 = equivalent(ctx, old, new, mask)
    if p < ctx.alpha:
        kind = "gain" if d.value.value > 0 else "loss"
        return StudyFinding("gains", kind, what, f"{ctx.labels[new]} {'gains' if kind == 'gain' else 'loses'} "
                            f"over {ctx.labels[old]} on {ctx.task}: {what}")
    if same:
        return StudyFinding("gains", "no gain", what, f"{ctx.labels[new]} and {ctx.labels[old]} are equivalent on "
                            f"{ctx.task}: 90% interval {interval(iv90, signed=True)} within ±{EQUIVALENCE_MARGIN}")
    return StudyFinding("gains", INCONCLUSIVE, what, f"neither a gain nor an equivalence on {ctx.task}: {what}")
