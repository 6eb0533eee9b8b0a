"""Analysis: calibration of the answer confidence: ECE with equal-width and equal-mass bins, Brier
score, AUROC of confidence for correctness; reliability diagrams."""
from __future__ import annotations

import numpy as np

from harness_plugins.analyses.context import CompareContext
from harness_plugins.analyses.result import AnalysisResult, Table
from harness_plugins.analyses.stats.calibration import (auroc, brier_score, expected_calibration_error,
                                                        reliability_bins)
from harness_plugins.analyses.text import num

N_BINS = 10


def analyze(ctx: CompareContext) -> AnalysisResult:
    table = Table("Calibration of answer confidence",
                  ["backbone", "accuracy", "mean confidence", "ECE (width)", "ECE (mass)", "Brier", "AUROC"],
                  note=f"{N_BINS} bins; ECE and Brier: lower is better; AUROC of confidence for correctness: higher is better")
    data: dict = {"n_bins": N_BINS, "backbones": {}}
    diagrams = {}
    for i, label in enumerate(ctx.labels):
        conf, correct = ctx.confidence[i], ctx.correct[i].astype(float)
        row = {"accuracy": float(correct.mean()), "mean_confidence": float(conf.mean()),
               "ece_width": expected_calibration_error(conf, correct, N_BINS, "width"),
               "ece_mass": expected_calibration_error(conf, correct, N_BINS, "mass"),
               "brier": brier_score(conf, correct), "auroc": auroc(conf, correct)}
        data["backbones"][label] = row
        diagrams[label] = reliability_bins(conf, correct, N_BINS, "width")
        table.rows.append([label] + [num(row[k]) for k in ("accuracy", "mean_confidence", "ece_width", "ece_mass",
                                                            "brier", "auroc")])
    rows = data["backbones"]
    best = min(rows, key=lambda k: rows[k]["ece_width"])
    others = ", ".join(f"{k} {num(v['ece_width'])}" for k, v in rows.items() if k != best)
    findings = [f"{best} is the best calibrated (ECE {num(rows[best]['ece_width'])} with equal-width bins, "
                f"{num(rows[best]['ece_mass'])} equal-mass; {others}), Brier "
                + ", ".join(f"{k} {num(v['brier'])}" for k, v in rows.items()) + "."]
    defined = {k: v["auroc"] for k, v in rows.items() if not np.isnan(v["auroc"])}
    if defined:
        top = max(defined, key=defined.get)
        findings.append(f"Confidence separates right from wrong answers best for {top} (AUROC {num(defined[top])}; "
                        + ", ".join(f"{k} {num(v)}" for k, v in defined.items() if k != top) + ").")
    result = AnalysisResult("calibration", "Calibration", [table], findings, data)
    path = ctx.plot_path("reliability.png")
    if path is not None:
        from harness_plugins.analyses.plots import reliability_diagrams

        reliability_diagrams(diagrams, ctx.task, path)
        result.plots.append(str(path))
    return result
