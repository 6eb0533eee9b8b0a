"""Analysis: "different questions, or more questions?" Per pair, the items solved by both, only one,
or neither; the correlation of per-item correctness; a one-line verdict. Per question type too."""
from __future__ import annotations

from dataclasses import dataclass

from harness_plugins.analyses.context import CompareContext
from harness_plugins.analyses.result import AnalysisResult, Table
from harness_plugins.analyses.stats.accuracy import mcnemar
from harness_plugins.analyses.stats.agreement import Overlap, overlap
from harness_plugins.analyses.text import num, p_is

# Pairs that disagree on fewer than this share of the items solve the same questions.
SAME_BELOW = 0.05


@dataclass(frozen=True)
class Verdict:
    kind: str  # "same", "different, not more", "more", "more and different"
    sentence: str


def verdict(a: str, b: str, ov: Overlap, p: float, alpha: float = 0.05) -> Verdict:
    """The one-line answer for a pair, from the discordant counts and McNemar's p.

    same: fewer than 5% of the items discordant. Different, not more: discordant items split so
    evenly that McNemar finds no difference. More: one side wins significantly and the other's
    exclusive solves are under half of its own; more and different: it wins but the loser still
    keeps at least half as many exclusive solves.
    """
    counts = f"{b} solves {ov.only_b} items {a} misses and misses {ov.only_a} it solves"
    stats = f"(McNemar {p_is(p)}, phi={num(ov.phi, 2)}, kappa={num(ov.kappa, 2)})"
    if ov.n == 0 or (ov.only_a + ov.only_b) / ov.n < SAME_BELOW:
        return Verdict("same", f"{counts}: the same questions {stats}")
    if p >= alpha:
        return Verdict("different, not more", f"{counts}: different, not more {stats}")
    winner, loser, won, lost = (b, a, ov.only_b, ov.only_a) if ov.only_b > ov.only_a else (a, b, ov.only_a, ov.only_b)
    if lost >= won / 2:
        return Verdict("more and different", f"{counts}: {winner} solves more, and different ones {stats}")
    return Verdict("more", f"{counts}: {winner} solves more, mostly a superset {stats}")


def analyze(ctx: CompareContext) -> AnalysisResult:
    table = Table("Different questions, or more questions?",
                  ["group", "A", "B", "both", "only A", "only B", "neither", "phi", "kappa", "verdict"],
                  note="phi: correlation of per-item correctness; kappa: Cohen's agreement beyond chance")
    data: dict = {"pairs": []}
    findings: list[str] = []
    for group, mask in ctx.groups().items():
        for i, j in ctx.pairs():
            a, b = ctx.labels[i], ctx.labels[j]
            ov = overlap(ctx.correct[i, mask], ctx.correct[j, mask])
            test = mcnemar(ctx.correct[i, mask], ctx.correct[j, mask])
            v = verdict(a, b, ov, test.p_value, ctx.alpha)
            table.rows.append([ctx.group_label(group), a, b, str(ov.both), str(ov.only_a), str(ov.only_b),
                               str(ov.neither), num(ov.phi, 2), num(ov.kappa, 2), v.kind])
            data["pairs"].append({"group": group, "a": a, "b": b, "both": ov.both, "only_a": ov.only_a,
                                  "only_b": ov.only_b, "neither": ov.neither, "phi": ov.phi, "kappa": ov.kappa,
                                  "p_value": test.p_value, "verdict": v.kind, "sentence": v.sentence})
            if group == "all":
                findings.append(f"On {ctx.task}, {v.sentence}.")
    result = AnalysisResult("overlap", "Different questions, or more questions?", [table], findings, data)
    path = ctx.plot_path("overlap.png")
    if path is not None:
        from harness_plugins.analyses.plots import overlap_chart

        overall = [p for p in data["pairs"] if p["group"] == "all"]
        overlap_chart(overall, ctx.task, path)
        result.plots.append(str(path))
    return result
