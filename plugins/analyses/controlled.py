"""Analysis: the controlled-comparison check (the runs must differ in the backbone only)."""
from __future__ import annotations

from harness.analysis.context import CompareContext
from harness.analysis.result import AnalysisResult, Table


def analyze(ctx: CompareContext) -> AnalysisResult:
    runs = Table("Runs compared", ["backbone", "variant", "generation", "run", "controlled hash", "training hash"])
    for run, label, gen in zip(ctx.runs, ctx.labels, ctx.generations):
        runs.rows.append([label, run.variant, "?" if gen is None else str(gen), run.run_id,
                          run.controlled_hash[:12], run.training_hash[:12]])
    items = f"{ctx.n_items} items evaluated by every run"
    if ctx.dropped_items:
        items += f"; {ctx.dropped_items} items evaluated by only some runs are left out"
    runs.note = items
    result = AnalysisResult("controlled", "Controlled comparison", [runs],
                            data={"controlled": not ctx.uncontrolled, "items": ctx.n_items,
                                  "dropped_items": ctx.dropped_items,
                                  "differences": [{"key": d.key, "values": d.values} for d in ctx.differences]})
    if ctx.uncontrolled:
        diffs = Table("Config keys that differ besides the backbone", ["key"] + ctx.labels)
        for d in ctx.differences:
            diffs.rows.append([d.key] + [str(d.values[label]) for label in ctx.labels])
        if not ctx.differences:
            diffs.note = "the controlled hashes differ although the stored configs agree"
        result.tables.append(diffs)
        what = "; ".join(d.text() for d in ctx.differences) or "their controlled hashes"
        result.findings.append(f"The runs are NOT a controlled comparison (allowed by --allow-uncontrolled): "
                               f"they differ in {what}, so differences below need not come from the backbone.")
    else:
        result.findings.append(f"The {len(ctx.runs)} runs are a controlled comparison: they share controlled hash "
                               f"{ctx.runs[0].controlled_hash[:12]} and differ only in the backbone ({items}).")
    return result
