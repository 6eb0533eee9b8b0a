"""Analysis: accuracy with paired-bootstrap 95% intervals per backbone and capability group, and
pairwise McNemar tests."""
from __future__ import annotations

from harness_plugins.analyses.context import CompareContext
from harness_plugins.analyses.result import AnalysisResult, Table
from harness_plugins.analyses.stats.accuracy import mcnemar
from harness_plugins.analyses.text import interval, p_is, p_value


def analyze(ctx: CompareContext) -> AnalysisResult:
    level = int(round((1 - ctx.alpha) * 100))
    acc = Table(f"Accuracy with {level}% paired-bootstrap interval", ["group", "items"] + ctx.labels,
                note=f"{ctx.n_resamples} resamples of the items, the same resample for every backbone")
    tests = Table("Pairwise McNemar tests", ["group", "A", "B", "B - A [interval]", "only A", "only B", "test", "p"],
                  note=f"exact binomial test below 25 discordant items, else chi-square with continuity correction; "
                       f"* p < {ctx.alpha}")
    data: dict = {"groups": {}}
    groups = ctx.groups()
    for group, mask in groups.items():
        boot = ctx.bootstrap(group)
        acc.rows.append([ctx.group_label(group), str(int(mask.sum()))] + [interval(iv) for iv in boot.accuracy])
        entry = {"items": int(mask.sum()),
                 "accuracy": {label: vars(iv) for label, iv in zip(ctx.labels, boot.accuracy)}, "pairs": []}
        for i, j in ctx.pairs():
            test = mcnemar(ctx.correct[i, mask], ctx.correct[j, mask])
            diff = boot.difference[(i, j)]
            # Shown as B - A so a positive number means the later (newer) backbone is ahead.
            shown = type(diff)(-diff.value, -diff.high, -diff.low)
            star = "*" if test.p_value < ctx.alpha else ""
            tests.rows.append([ctx.group_label(group), ctx.labels[i], ctx.labels[j], interval(shown, signed=True),
                               str(test.only_a), str(test.only_b), "exact" if test.exact else "chi2",
                               p_value(test.p_value) + star])
            entry["pairs"].append({"a": ctx.labels[i], "b": ctx.labels[j], "difference_b_minus_a": vars(shown),
                                   "only_a": test.only_a, "only_b": test.only_b, "exact": test.exact,
                                   "statistic": test.statistic, "p_value": test.p_value})
        data["groups"][group] = entry
    result = AnalysisResult("accuracy", "Accuracy with uncertainty", [acc, tests], data=data)
    boot = ctx.bootstrap("all")
    ranked = sorted(range(len(ctx.labels)), key=lambda i: -boot.accuracy[i].value)
    listing = ", ".join(f"{ctx.labels[i]} {interval(boot.accuracy[i], 2)}" for i in ranked)
    result.findings.append(f"On {ctx.task} ({ctx.n_items} items) accuracy with {level}% intervals is {listing}.")
    significant = [p for p in data["groups"]["all"]["pairs"] if p["p_value"] < ctx.alpha]
    if significant:
        parts = [f"{p['b']} vs {p['a']} {p['difference_b_minus_a']['value'] + 0.0:+.3f} ({p_is(p['p_value'])})"
                 for p in significant]
        result.findings.append(f"Significant overall differences (McNemar, p < {ctx.alpha}): {'; '.join(parts)}.")
    else:
        result.findings.append(f"No pair of backbones differs significantly overall (McNemar, all p >= {ctx.alpha}).")
    return result
