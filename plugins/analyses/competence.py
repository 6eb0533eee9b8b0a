"""Analysis: the competence gate. Each run, per group, against its baselines (majority answer per
question type, a constant answer, the blind baseline with every image blanked). Every other analysis
reads the same gate and calls a verdict that involves a failing run not interpretable."""
from __future__ import annotations

from harness.analysis import AnalysisResult, CompareContext, Table
from harness.analysis.gate import CONSTANT_SHARE
from harness_plugins.analyses.text import interval, num


def analyze(ctx: CompareContext) -> AnalysisResult:
    table = Table("Competence gate: each run against its baselines",
                  ["group", "backbone", "items", "accuracy", "majority", "blind", "image benefit", "top answer",
                   "gate"],
                  note=f"accuracy: Clopper-Pearson {1 - ctx.alpha:.0%} interval; not interpretable: the interval reaches "
                       f"down to the majority-answer baseline, the image benefit (accuracy - blind, exact paired "
                       f"interval) reaches down to 0, or one answer covers {CONSTANT_SHARE:.0%} of the items")
    data: dict = {"groups": {}}
    failing: dict[str, list[str]] = {}
    blindless = [label for i, label in enumerate(ctx.labels) if ctx.blind_correct(i) is None]
    for group in ctx.groups():
        entry = data["groups"][group] = {}
        for i, label in enumerate(ctx.labels):
            gate = ctx.competence(i, group)
            answer = f"{gate.constant[0]!r} {gate.constant[1]}/{gate.items}" if gate.constant else ""
            table.rows.append([ctx.group_label(group), label, str(gate.items), interval(gate.accuracy),
                               num(gate.majority) if gate.majority is not None else "",
                               num(gate.blind) if gate.blind is not None else "no blind pass",
                               interval(gate.benefit, signed=True) if gate.benefit is not None else "",
                               answer, "ok" if gate.ok else "not interpretable"])
            entry[label] = {"items": gate.items, "accuracy": vars(gate.accuracy), "majority": gate.majority,
                            "blind": gate.blind, "benefit": vars(gate.benefit) if gate.benefit else None,
                            "constant": list(gate.constant) if gate.constant else None, "ok": gate.ok,
                            "problems": list(gate.problems)}
            failing.setdefault(label, []).extend(gate.problems)
    result = AnalysisResult("competence", "Competence gate", [table], data=data)
    groups = len(data["groups"])
    for label, problems in failing.items():
        bad = sum(not data["groups"][g][label]["ok"] for g in data["groups"])
        if problems:
            result.findings.append(f"{label} is not interpretable on {bad} of {groups} groups: "
                                   + "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "") + ".")
        else:
            result.findings.append(f"{label} clears its baselines on every group.")
    if blindless:
        result.findings.append(f"No blind baseline for {', '.join(blindless)}: rerun with eval.blind=true to measure "
                               "how much each VLM uses the image.")
    return result
