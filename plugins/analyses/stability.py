"""Analysis: representation stability from saved answer-position hidden states: how far the final
representation moves under small input perturbations (pixel noise, a paraphrased question), compared
between backbones on the same items (paired bootstrap, Holm-corrected), and layer-to-layer debiased
CKA across depth. Runs that fail the competence gate get no verdict."""
from __future__ import annotations

from collections import Counter

import numpy as np

from harness.analysis import (INCONCLUSIVE, NOT_INTERPRETABLE, NOT_SHOWN, SHOWN, AnalysisResult, CompareContext,
                              StudyFinding, Table)
from harness.analysis.stats.bootstrap import bootstrap_p, paired_mean_draws, percentile
from harness.analysis.stats.cka import debiased_cka, layer_debiased_cka
from harness.analysis.stats.multiplicity import holm
from harness.analysis.stats.stability import cosine_movement, relative_movement_per_item
from harness_plugins.analyses.common import newer_better
from harness_plugins.analyses.hidden import (HiddenStates, hidden_state_files, load_hidden_states,
                                             perturbation_sets, rerun_hint)
from harness_plugins.analyses.text import holm_note, interval, num


def clean_task(ctx: CompareContext) -> str:
    """The task name the items (and so the hidden-state files) are stored under."""
    return Counter(t for t, _ in ctx.items).most_common(1)[0][0]


def missing_hidden_states(ctx: CompareContext) -> list[str]:
    """Labels of the runs without hidden states for the compared task."""
    task = clean_task(ctx)
    return [label for run, label in zip(ctx.runs, ctx.labels) if task not in hidden_state_files(run)]


def _load_clean(ctx: CompareContext, task: str) -> list[HiddenStates]:
    doc_ids = [d for t, d in ctx.items if t == task]
    loaded = [load_hidden_states(hidden_state_files(run)[task], doc_ids) for run in ctx.runs]
    common = set.intersection(*(set(h.doc_ids) for h in loaded))
    keep = [d for d in doc_ids if d in common]
    return [HiddenStates(keep, h.states[[h.doc_ids.index(d) for d in keep]]) for h in loaded]


def _depth(ctx: CompareContext, clean: list[HiddenStates], data: dict) -> Table:
    n = len(clean[0].doc_ids)
    depth = Table("Layer-to-layer similarity (debiased linear CKA of the answer-position states)",
                  ["backbone", "items", "layers", "mean adjacent CKA", "lowest adjacent CKA (layer)"],
                  note="debiased CKA (unbiased HSIC) between consecutive layers over the same items: near 0 for "
                       "unrelated layers whatever the width, 1 when a layer changes nothing up to rotation and scale")
    for label, hs in zip(ctx.labels, clean):
        values = layer_debiased_cka(hs.states.transpose(1, 0, 2)) if n >= 4 else np.array([])
        data["layer_cka"][label] = [float(v) for v in values]
        ok = len(values) and not np.all(np.isnan(values))
        low = int(np.nanargmin(values)) if ok else -1
        depth.rows.append([label, str(n), str(hs.states.shape[1] - 1 if n else 0),
                           num(float(np.nanmean(values))) if ok else "n/a",
                           f"{num(float(values[low]))} ({low}->{low + 1})" if ok else "n/a"])
    return depth


def analyze(ctx: CompareContext) -> AnalysisResult:
    task = clean_task(ctx)
    clean = _load_clean(ctx, task)
    data: dict = {"items": len(clean[0].doc_ids), "layer_cka": {}, "perturbations": {}, "pairs": []}
    depth = _depth(ctx, clean, data)
    moves = Table("Movement of the final-layer answer representation under perturbations",
                  ["backbone", "perturbation", "items", "cosine movement", "relative movement [interval]",
                   "CKA clean vs perturbed", "gate"],
                  note="relative movement: mean ||h(x) - h(x')|| over the mean distance between different items (0: "
                       "unmoved, 1: as far as another item), paired bootstrap interval; CKA debiased")
    readable = [ctx.competence(i, "all").ok for i in range(len(ctx.labels))]
    sets = [perturbation_sets(hidden_state_files(run), task) for run in ctx.runs]
    names = sorted(set.intersection(*(set(s) for s in sets))) if sets else []
    tests = []  # (perturbation, i, j, difference interval, p)
    plots: list[str] = []
    for name in names:
        perturbed = [load_hidden_states(available[name], hs.doc_ids) for hs, available in zip(clean, sets)]
        common = sorted(set.intersection(*(set(p.doc_ids) for p in perturbed)))
        if len(common) < 4:
            continue
        per_item, per_layer, summary = [], {}, {}
        for label, hs, pert in zip(ctx.labels, clean, perturbed):
            base = hs.states[[hs.doc_ids.index(d) for d in common]]
            moved = pert.states[[pert.doc_ids.index(d) for d in common]]
            per_item.append(relative_movement_per_item(base[:, -1], moved[:, -1]))
            per_layer[label] = [float(relative_movement_per_item(base[:, l], moved[:, l]).mean())
                                for l in range(base.shape[1])]
            summary[label] = {"items": len(common), "cosine_movement": cosine_movement(base[:, -1], moved[:, -1]),
                              "cka": debiased_cka(base[:, -1], moved[:, -1]), "relative_movement_per_layer": per_layer[label]}
        values = np.stack(per_item)
        draws = paired_mean_draws(values, ctx.n_resamples, ctx.seed)
        for i, label in enumerate(ctx.labels):
            s = summary[label]
            s["relative_movement"] = float(values[i].mean())
            iv = percentile(values[i].mean(), draws[:, i], ctx.alpha)
            moves.rows.append([label, name, str(len(common)), num(s["cosine_movement"]), interval(iv), num(s["cka"]),
                               "ok" if readable[i] else "not interpretable"])
        for i, j in ctx.pairs():
            if readable[i] and readable[j]:
                d = draws[:, j] - draws[:, i]
                tests.append((name, i, j, percentile(values[j].mean() - values[i].mean(), d, ctx.alpha), bootstrap_p(d)))
        data["perturbations"][name] = summary
        path = ctx.plot_path(f"stability_{name}.png")
        if path is not None:
            from harness_plugins.analyses.plots import layer_curves

            layer_curves(per_layer, f"Movement under {name}: {ctx.task}", "relative movement", path)
            plots.append(str(path))
    adjusted = holm([t[-1] for t in tests])
    pairs = Table("Pairwise differences in relative movement", ["perturbation", "A", "B", "B - A [interval]", "Holm p"],
                  note=holm_note(len(tests), ctx.alpha) + "; pairs with a run that fails the competence gate are left out")
    for (name, i, j, d, _), p in zip(tests, adjusted):
        pairs.rows.append([name, ctx.labels[i], ctx.labels[j], interval(d, signed=True),
                           f"{p:.3f}{'*' if p < ctx.alpha else ''}"])
        data["pairs"].append({"perturbation": name, "a": ctx.labels[i], "b": ctx.labels[j], "difference": vars(d),
                              "holm_p": p})
    result = AnalysisResult("stability", "Representation stability", [depth, moves, pairs], data=data, plots=plots)
    if not names:
        moves.note = f"no perturbation sets were evaluated; {rerun_hint(task)}"
        result.study.append(StudyFinding("stability", NOT_INTERPRETABLE, "", f"Movement under perturbations was not "
                                         f"measured: the runs hold no hidden states of perturbed inputs ({rerun_hint(task)})."))
    else:
        result.study.append(_study(ctx, tests, adjusted, readable))
    result.findings.append(result.study[-1].sentence)
    path = ctx.plot_path("layer_cka.png")
    if path is not None and any(data["layer_cka"].values()):
        from harness_plugins.analyses.plots import layer_curves

        layer_curves(data["layer_cka"], f"Adjacent-layer debiased CKA: {ctx.task}", "CKA(layer, next layer)", path)
        result.plots.append(str(path))
    return result


def _study(ctx: CompareContext, tests: list, adjusted: list[float], readable: list[bool]) -> StudyFinding:
    if sum(readable) < 2:
        why = "; ".join(p for i in range(len(ctx.labels)) for p in ctx.competence(i, "all").problems)
        return StudyFinding("stability", NOT_INTERPRETABLE, "",
                            f"Stability is not interpretable: fewer than two runs clear their baselines ({why}).")
    better, worse = newer_better(ctx, [(i, j) for _, i, j, _, _ in tests], [t[3] for t in tests], adjusted,
                                 "relative movement")
    if better and not worse:
        return StudyFinding("stability", SHOWN, better[0], "A newer generation's representation moves less: "
                            + "; ".join(better) + ".")
    if worse:
        return StudyFinding("stability", NOT_SHOWN, worse[0], "An older generation's representation moves less: "
                            + "; ".join(worse) + ".")
    return StudyFinding("stability", INCONCLUSIVE, f"{len(tests)} pairs, none significant",
                        "No interpretable pair differs in representation movement beyond the bootstrap intervals "
                        "(Holm-corrected).")
