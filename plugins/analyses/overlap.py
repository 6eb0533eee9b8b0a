"""Analysis: "different questions, or more questions?" Per pair and group: the items solved by both,
only one, or neither; whether one backbone solves more (accuracy difference, Holm-corrected), and
whether each solves items the other misses more often than a reseeded copy of itself would (the seed
null). A verdict needs positive evidence; everything else is inconclusive, with the evidence it lacks."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from harness.analysis import (INCONCLUSIVE, NOT_INTERPRETABLE, NOT_SHOWN, SHOWN, AnalysisResult, CompareContext,
                              StudyFinding, Table)
from harness.analysis.gate import MIN_ITEMS
from harness.analysis.stats.agreement import overlap
from harness.analysis.stats.multiplicity import holm
from harness.analysis.stats.seeds import BeyondSeeds, Difference, exclusive_beyond_seeds, items_needed
from harness_plugins.analyses.common import (EQUIVALENCE_MARGIN, difference, equivalent, gate_problems,
                                             has_replicates, replicates_hint)
from harness_plugins.analyses.text import holm_note, interval, num, p_is

ITEMS_MARGIN = 0.05  # "the same questions": each side's exclusive rate at most this above the seed flip rate


@dataclass(frozen=True)
class Evidence:
    """What a pair's verdict rests on (p-values already Holm-adjusted)."""

    n: int
    only_a: int
    only_b: int
    count: Difference  # accuracy of B minus A
    count_p: float
    count_same: bool  # the 90% interval within the equivalence margin
    a_beyond: BeyondSeeds | None = None  # A's exclusive solves against the seed null (None: no replicates)
    b_beyond: BeyondSeeds | None = None
    a_p: float = 1.0
    b_p: float = 1.0


@dataclass(frozen=True)
class Verdict:
    kind: str  # same, more, more and different, different not more, needs replicates, inconclusive, ...
    sentence: str


def verdict(a: str, b: str, ev: Evidence, alpha: float = 0.05, problems: list[str] = (), hint: str = "") -> Verdict:
    """The pair's verdict from its evidence (rules in docs/analyses.md, section "overlap")."""
    counts = f"{b} solves {ev.only_b} items {a} misses and misses {ev.only_a} it solves ({ev.n} items)"
    stats = f"{b} - {a} {interval(ev.count.value, signed=True)}, {ev.count.test}, Holm {p_is(ev.count_p)}"
    if ev.n < MIN_ITEMS:
        return Verdict("too few items", f"{counts}: too few items for a verdict (under {MIN_ITEMS})")
    if problems:
        return Verdict("not interpretable", f"{counts}: not interpretable, " + "; ".join(problems))
    more = ev.count_p < alpha
    winner, loser = (b, a) if ev.count.value.value > 0 else (a, b)
    if ev.a_beyond is not None and ev.b_beyond is not None:
        seeds = (f"exclusive solves beyond the seed flip rate: {a} {interval(ev.a_beyond.excess, signed=True)} "
                 f"(Holm {p_is(ev.a_p)}), {b} {interval(ev.b_beyond.excess, signed=True)} (Holm {p_is(ev.b_p)})")
        a_more, b_more = ev.a_p < alpha, ev.b_p < alpha
        loser_keeps = a_more if winner == b else b_more
        if more:
            kind = "more and different" if loser_keeps else "more"
            what = "solves more, and different ones" if loser_keeps else "solves more; the other's exclusive solves are within seed noise"
            return Verdict(kind, f"{counts}: {winner} {what} ({stats}; {seeds})")
        if a_more and b_more:
            kind = "different, not more" if ev.count_same else "different"
            tail = "not more" if ev.count_same else "more or not is inconclusive"
            return Verdict(kind, f"{counts}: different questions, {tail} ({stats}; {seeds})")
        if ev.count_same and ev.a_beyond.excess.high < ITEMS_MARGIN and ev.b_beyond.excess.high < ITEMS_MARGIN:
            return Verdict("same", f"{counts}: the same questions, as two seeds of one backbone ({stats}; {seeds})")
        return Verdict(INCONCLUSIVE, f"{counts}: inconclusive ({stats}; {seeds}){_power(ev, alpha)}")
    if more:
        if (ev.only_a if winner == b else ev.only_b) == 0:
            return Verdict("more", f"{counts}: {winner} solves more, a strict superset ({stats})")
        return Verdict("more", f"{counts}: {winner} solves more ({stats}); whether it also solves different questions "
                               f"needs seed replicates: {hint}")
    if ev.count_same:
        return Verdict("needs replicates", f"{counts}: as many questions ({stats}; 90% interval within "
                                           f"±{EQUIVALENCE_MARGIN}); the same or different ones needs seed replicates: {hint}")
    return Verdict(INCONCLUSIVE, f"{counts}: inconclusive ({stats}){_power(ev, alpha)}; seed replicates: {hint}")


def _power(ev: Evidence, alpha: float) -> str:
    delta = ev.count.value.value or EQUIVALENCE_MARGIN
    needed = items_needed((ev.only_a + ev.only_b) / ev.n, delta, alpha)
    return f"; about {needed} items would detect a difference of {abs(delta):.3f} with 80% power" if needed else ""


def analyze(ctx: CompareContext) -> AnalysisResult:
    table = Table("Different questions, or more questions?",
                  ["group", "A", "B", "both", "only A", "only B", "neither", "phi", "kappa", "verdict"])
    data: dict = {"pairs": []}
    pending = []
    for group, mask in ctx.groups().items():
        for i, j in ctx.pairs():
            ov = overlap(ctx.correct[i, mask], ctx.correct[j, mask])
            count = difference(ctx, i, j, mask)
            same, _ = equivalent(ctx, i, j, mask)
            beyond = (None, None)
            if has_replicates(ctx, [i, j]):
                a_runs, b_runs = ctx.replicate_correct(i)[:, mask], ctx.replicate_correct(j)[:, mask]
                beyond = (exclusive_beyond_seeds(a_runs, b_runs, [a_runs, b_runs], 1 - ctx.alpha),
                          exclusive_beyond_seeds(b_runs, a_runs, [a_runs, b_runs], 1 - ctx.alpha))
            pending.append((group, i, j, ov, count, same, beyond))
    family = [p for *_, count, _, beyond in pending
              for p in [count.p_value] + [x.p_value for x in beyond if x is not None]]
    adjusted = iter(holm(family))
    findings, study = [], []
    for group, i, j, ov, count, same, (a_beyond, b_beyond) in pending:
        count_p = next(adjusted)
        a_p, b_p = (next(adjusted), next(adjusted)) if a_beyond is not None else (1.0, 1.0)
        ev = Evidence(ov.n, ov.only_a, ov.only_b, count, count_p, same, a_beyond, b_beyond, a_p, b_p)
        a, b = ctx.labels[i], ctx.labels[j]
        v = verdict(a, b, ev, ctx.alpha, gate_problems(ctx, [i, j], group), replicates_hint(ctx, [i, j]))
        table.rows.append([ctx.group_label(group), a, b, str(ov.both), str(ov.only_a), str(ov.only_b),
                           str(ov.neither), num(ov.phi, 2), num(ov.kappa, 2), v.kind])
        data["pairs"].append({"group": group, "a": a, "b": b, "both": ov.both, "only_a": ov.only_a, "only_b": ov.only_b,
                              "neither": ov.neither, "phi": ov.phi, "kappa": ov.kappa, "difference": vars(count.value),
                              "test": count.test, "holm_p": count_p,
                              "a_beyond_seeds": asdict(a_beyond) if a_beyond else None,
                              "b_beyond_seeds": asdict(b_beyond) if b_beyond else None,
                              "verdict": v.kind, "sentence": v.sentence})
        if group == "all":
            findings.append(f"On {ctx.task}, {v.sentence}.")
            study.append(v)
    table.note = ("phi: correlation of per-item correctness; kappa: Cohen's agreement beyond chance; verdicts from "
                  "the accuracy difference (Welch over seeds or exact McNemar) and, with seed replicates, each side's "
                  "exclusive solves against the seed flip rate (one-sided t over items); "
                  + holm_note(len(family), ctx.alpha).split(";")[0])
    result = AnalysisResult("overlap", "Different questions, or more questions?", [table], findings, data)
    result.study.append(_study(ctx, study))
    path = ctx.plot_path("overlap.png")
    if path is not None:
        from harness_plugins.analyses.plots import overlap_chart

        overlap_chart([p for p in data["pairs"] if p["group"] == "all"], ctx.task, path)
        result.plots.append(str(path))
    return result


def _study(ctx: CompareContext, verdicts: list[Verdict]) -> StudyFinding:
    kinds = [v.kind for v in verdicts]
    shown = [v for v in verdicts if v.kind == "different, not more"]
    if shown:
        return StudyFinding("different_not_more", SHOWN, shown[0].kind, shown[0].sentence)
    if all(k == "not interpretable" for k in kinds):
        return StudyFinding("different_not_more", NOT_INTERPRETABLE, "", verdicts[0].sentence)
    if all(k in ("same", "more", "more and different", "not interpretable") for k in kinds):
        return StudyFinding("different_not_more", NOT_SHOWN, ", ".join(kinds), verdicts[0].sentence)
    open_ = next(v for v in verdicts if v.kind not in ("same", "more", "more and different", "not interpretable"))
    return StudyFinding("different_not_more", INCONCLUSIVE, open_.kind, open_.sentence)
