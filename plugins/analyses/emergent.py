"""Analysis: emergent capabilities, a capability (a group's accuracy, or a per-sample 0/1 metric such as
the valid-JSON rate of coordinate prediction) that older generations lack and a newer one has, in
generation order, with every newer-than-older difference significant after Holm correction."""
from __future__ import annotations

import numpy as np

from harness.analysis import NOT_INTERPRETABLE, NOT_SHOWN, SHOWN, AnalysisResult, CompareContext, StudyFinding, Table
from harness.analysis.gate import MIN_ITEMS
from harness.analysis.stats.multiplicity import holm
from harness.analysis.stats.seeds import accuracy_difference
from harness_plugins.analyses.common import difference
from harness_plugins.analyses.text import num, p_is

NEAR_ZERO = 0.05  # an older generation "cannot do it" at or below this (or below its baselines)
RISEN = 0.20  # a newer one "can" at or above this


def emerges_at(values: list[float], near_zero: float = NEAR_ZERO, risen: float = RISEN) -> int | None:
    """Position (oldest first) of the first system that reaches ``risen`` while every older one stays at or
    below ``near_zero``; None when there is none. The value rule only; :func:`analyze` adds the tests."""
    for k in range(1, len(values)):
        if values[k] >= risen:
            return k if all(v <= near_zero for v in values[:k]) else None
    return None


def _capabilities(ctx: CompareContext):
    """(name, group for the gate, per-backbone values, tester(i, j) -> Difference) per capability."""
    for group, mask in ctx.groups().items():
        if mask.sum() >= MIN_ITEMS:
            yield (f"accuracy {group}", group, [ctx.replicate_correct(i)[:, mask].mean() for i in range(len(ctx.labels))],
                   lambda i, j, mask=mask: difference(ctx, i, j, mask))
    if ctx.sample_metrics and ctx.n_items >= MIN_ITEMS:
        shared = set.intersection(*(set(m) for m in ctx.sample_metrics))
        better = {name for name in shared if all(name not in m or m[name].higher_is_better for m in ctx.metrics)}
        for name in sorted(better):
            values = [m[name] for m in ctx.sample_metrics]
            if all(np.array_equal(v >= 0.5, ctx.correct[i]) for i, v in enumerate(values)):
                continue  # the score itself: the "accuracy all" row already covers it
            if all(np.all((v == 0) | (v == 1)) for v in values):
                yield (name, "all", [float(v.mean()) for v in values],
                       lambda i, j, values=values: accuracy_difference(values[i], values[j], 1 - ctx.alpha))


def analyze(ctx: CompareContext) -> AnalysisResult:
    order = ctx.by_generation()
    labels = [ctx.labels[i] for i in order]
    table = Table("Emergent capabilities (oldest generation first)", ["capability"] + labels + ["verdict"])
    data: dict = {"near_zero": NEAR_ZERO, "risen": RISEN, "order": labels, "rows": []}
    candidates = []
    for name, group, values, test in _capabilities(ctx):
        ordered = [values[i] for i in order]
        k = emerges_at(ordered)
        if k is None:
            # the value rule failed; the gate may still excuse older runs that sit on their baselines
            for kk in range(1, len(order)):
                if ordered[kk] >= RISEN and all(ordered[o] <= NEAR_ZERO or not ctx.competence(order[o], group).ok
                                                for o in range(kk)):
                    k = kk
                    break
        tests = [test(order[o], order[k]) for o in range(k)] if k is not None else []
        candidates.append((name, group, ordered, k, tests))
    adjusted = iter(holm([t.p_value for *_, tests in candidates for t in tests]))
    findings, shown, blocked = [], [], []
    for name, group, ordered, k, tests in candidates:
        ps = [next(adjusted) for _ in tests]
        verdict = ""
        if k is not None:
            newer = order[k]
            problems = ctx.competence(newer, group).problems
            if problems:
                verdict = "not interpretable"
                blocked.append(f"{name}: " + "; ".join(problems))
            elif all(p < ctx.alpha for p in ps):
                verdict = f"emerges with {labels[k]}"
                older = ", ".join(f"{labels[o]} {num(ordered[o])}" for o in range(k))
                sentence = (f"{name} on {ctx.task} emerges with {labels[k]} ({num(ordered[k])}) while older generations "
                            f"cannot ({older}; each difference Holm {', '.join(p_is(p) for p in ps)}).")
                findings.append(sentence)
                shown.append(sentence)
            else:
                verdict = "inconclusive (differences not significant)"
        table.rows.append([name] + [num(v) for v in ordered] + [verdict])
        data["rows"].append({"capability": name, "values": dict(zip(labels, ordered)), "verdict": verdict,
                             "holm_p": ps})
    table.note = (f"emerges with X: X at or above {RISEN} and above its baselines, every older generation at or below "
                  f"{NEAR_ZERO} or not above its baselines, and X above each older one (Welch over seeds or exact "
                  f"McNemar, Holm-corrected across the table); groups under {MIN_ITEMS} items are left out")
    if not findings:
        findings.append(f"No capability on {ctx.task} emerges with a newer generation (rule and tests in the table note).")
    result = AnalysisResult("emergent", "Emergent capabilities", [table], findings, data)
    if shown:
        result.study.append(StudyFinding("emergent", SHOWN, shown[0].split(" (")[0], shown[0]))
    elif blocked:
        result.study.append(StudyFinding("emergent", NOT_INTERPRETABLE, "", "Would-be emergent capabilities involve "
                                         "runs below their baselines: " + "; ".join(blocked[:2]) + "."))
    elif not ctx.competence(order[-1], "all").ok:  # "nothing emerges" needs a newest generation that works
        result.study.append(StudyFinding("emergent", NOT_INTERPRETABLE, "", "Nothing emerges, but the newest generation "
                                         "is below its baselines: " + "; ".join(ctx.competence(order[-1], "all").problems) + "."))
    else:
        result.study.append(StudyFinding("emergent", NOT_SHOWN, "", findings[0]))
    return result
