"""Analysis: calibration of the answer confidence: ECE with equal-width and equal-mass bins, Brier
score, AUROC of confidence for correctness, reliability diagrams; ECE intervals and pairwise
differences from a paired bootstrap, Holm-corrected. Runs that fail the competence gate get no verdict."""
from __future__ import annotations

from harness.analysis import (INCONCLUSIVE, NOT_INTERPRETABLE, NOT_SHOWN, SHOWN, AnalysisResult, CompareContext,
                              StudyFinding, Table)
from harness.analysis.stats.bootstrap import bootstrap_p, percentile
from harness.analysis.stats.calibration import (auroc, brier_score, ece_bootstrap, expected_calibration_error,
                                                reliability_bins)
from harness.analysis.stats.multiplicity import holm
from harness_plugins.analyses.common import newer_better
from harness_plugins.analyses.text import holm_note, interval, num, p_is

N_BINS = 10


def analyze(ctx: CompareContext) -> AnalysisResult:
    table = Table("Calibration of answer confidence",
                  ["backbone", "accuracy", "mean confidence", "ECE (width) [interval]", "ECE (mass)", "Brier", "AUROC",
                   "gate"],
                  note=f"{N_BINS} bins; ECE and Brier: lower is better; AUROC of confidence for correctness: higher is "
                       f"better; ECE intervals: paired bootstrap, {ctx.n_resamples} resamples")
    points, draws = ece_bootstrap(ctx.confidence, ctx.correct, N_BINS, ctx.n_resamples, ctx.seed)
    data: dict = {"n_bins": N_BINS, "backbones": {}, "pairs": []}
    diagrams = {}
    readable = [ctx.competence(i, "all").ok for i in range(len(ctx.labels))]
    for i, label in enumerate(ctx.labels):
        conf, correct = ctx.confidence[i], ctx.correct[i].astype(float)
        ece = percentile(points[i], draws[:, i], ctx.alpha)
        row = {"accuracy": float(correct.mean()), "mean_confidence": float(conf.mean()), "ece_width": ece.value,
               "ece_width_interval": vars(ece), "ece_mass": expected_calibration_error(conf, correct, N_BINS, "mass"),
               "brier": brier_score(conf, correct), "auroc": auroc(conf, correct), "interpretable": readable[i]}
        data["backbones"][label] = row
        diagrams[label] = reliability_bins(conf, correct, N_BINS, "width")
        table.rows.append([label, num(row["accuracy"]), num(row["mean_confidence"]), interval(ece), num(row["ece_mass"]),
                           num(row["brier"]), num(row["auroc"]), "ok" if readable[i] else "not interpretable"])
    pairs = [(i, j) for i, j in ctx.pairs() if readable[i] and readable[j]]
    diffs = [percentile(points[j] - points[i], draws[:, j] - draws[:, i], ctx.alpha) for i, j in pairs]
    adjusted = holm([bootstrap_p(draws[:, j] - draws[:, i]) for i, j in pairs])
    tests = Table("Pairwise ECE differences", ["A", "B", "ECE B - A [interval]", "Holm p"],
                  note=holm_note(len(pairs), ctx.alpha) + "; pairs with a run that fails the competence gate are left out")
    for (i, j), d, p in zip(pairs, diffs, adjusted):
        tests.rows.append([ctx.labels[i], ctx.labels[j], interval(d, signed=True), f"{p_is(p)}{'*' if p < ctx.alpha else ''}"])
        data["pairs"].append({"a": ctx.labels[i], "b": ctx.labels[j], "difference": vars(d), "holm_p": p})
    result = AnalysisResult("calibration", "Calibration", [table, tests], data=data)
    result.findings.append("Equal-width ECE " + ", ".join(
        f"{l} {interval(percentile(points[i], draws[:, i], ctx.alpha))}" + ("" if readable[i] else " (not interpretable)")
        for i, l in enumerate(ctx.labels)) + ".")
    result.study.append(_study(ctx, pairs, diffs, adjusted, readable))
    result.findings.append(result.study[-1].sentence)
    path = ctx.plot_path("reliability.png")
    if path is not None:
        from harness_plugins.analyses.plots import reliability_diagrams

        reliability_diagrams(diagrams, ctx.task, path)
        result.plots.append(str(path))
    return result


def _study(ctx: CompareContext, pairs, diffs, adjusted, readable) -> StudyFinding:
    if len(pairs) == 0:
        why = "; ".join(p for i in range(len(ctx.labels)) for p in ctx.competence(i, "all").problems)
        return StudyFinding("calibration", NOT_INTERPRETABLE, "",
                            f"Calibration is not interpretable: fewer than two runs clear their baselines ({why}).")
    better, worse = newer_better(ctx, pairs, diffs, adjusted, "ECE")
    if better and not worse:
        return StudyFinding("calibration", SHOWN, better[0], "A newer generation is better calibrated: " + "; ".join(better) + ".")
    if worse:
        return StudyFinding("calibration", NOT_SHOWN, worse[0], "An older generation is better calibrated: " + "; ".join(worse) + ".")
    return StudyFinding("calibration", INCONCLUSIVE, f"{len(pairs)} pairs, none significant",
                        "No interpretable pair differs in calibration beyond the bootstrap intervals (Holm-corrected).")
