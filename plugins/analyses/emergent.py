"""Analysis: emergent capabilities, metrics that stay near zero for older generations and rise for a
newer one (the valid-JSON rate of coordinate prediction, say)."""
from __future__ import annotations

from harness_plugins.analyses.context import CompareContext
from harness_plugins.analyses.result import AnalysisResult, Table
from harness_plugins.analyses.text import num

NEAR_ZERO = 0.05  # an older generation "cannot do it" at or below this
RISEN = 0.20  # a newer one "can" at or above this


def emerges_at(values: list[float], near_zero: float = NEAR_ZERO, risen: float = RISEN) -> int | None:
    """Index of the first system (oldest first) that reaches ``risen`` while every older one stays at or
    below ``near_zero``; None when there is no such system."""
    for k in range(1, len(values)):
        if values[k] >= risen:
            return k if all(v <= near_zero for v in values[:k]) else None
    return None


def analyze(ctx: CompareContext) -> AnalysisResult:
    table = Table("Emergent capabilities", ["capability", "source"] + ctx.labels + ["flag"],
                  note=f"emergent: every older generation at or below {NEAR_ZERO}, a newer one at or above {RISEN}; "
                       "groups also need the newer one's interval above every older one's")
    data: dict = {"near_zero": NEAR_ZERO, "risen": RISEN, "rows": []}
    findings = []
    rows: list[tuple[str, str, list[float], bool]] = []  # (name, source, values, may be flagged)
    shared = set.intersection(*(set(m) for m in ctx.metrics)) if ctx.metrics else set()
    for metric in sorted(shared):
        if all(m[metric].higher_is_better for m in ctx.metrics):
            rows.append((metric, "metric", [m[metric].value for m in ctx.metrics], True))
    for group in ctx.groups():
        boot = ctx.bootstrap(group)
        k = emerges_at([iv.value for iv in boot.accuracy])
        # A group is an item subset; its rise must also clear the older ones' intervals.
        separated = k is not None and all(boot.accuracy[k].low > iv.high for iv in boot.accuracy[:k])
        rows.append((f"accuracy {group}", "items", [iv.value for iv in boot.accuracy], separated))
    for name, source, values, allowed in rows:
        k = emerges_at(values)
        flagged = k is not None and allowed
        shown = f"accuracy {ctx.group_label('all')}" if name == "accuracy all" else name
        table.rows.append([shown, source] + [num(v) for v in values] + [f"emerges with {ctx.labels[k]}" if flagged else ""])
        data["rows"].append({"capability": name, "source": source, "values": dict(zip(ctx.labels, values)),
                             "emerges_with": ctx.labels[k] if flagged else None})
        if flagged:
            older = ", ".join(f"{ctx.labels[i]} {num(values[i])}" for i in range(k))
            findings.append(f"{name} on {ctx.task} emerges with {ctx.labels[k]} ({num(values[k])}) while older "
                            f"generations stay near zero ({older}).")
    if not findings:
        findings.append(f"No capability on {ctx.task} emerges: none stays at or below {NEAR_ZERO} for every older "
                        f"generation and reaches {RISEN} with a newer one.")
    return AnalysisResult("emergent", "Emergent capabilities", [table], findings, data)
