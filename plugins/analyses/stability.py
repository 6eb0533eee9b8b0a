"""Analysis: representation stability from saved answer-position hidden states: how far the
representation moves under small input perturbations (pixel noise, a paraphrased question), and
layer-to-layer linear CKA across depth."""
from __future__ import annotations

from collections import Counter

import numpy as np

from harness_plugins.analyses.context import CompareContext
from harness_plugins.analyses.hidden import (HiddenStates, hidden_state_files, load_hidden_states,
                                             perturbation_sets, rerun_hint)
from harness_plugins.analyses.result import AnalysisResult, Table
from harness_plugins.analyses.stats.cka import layer_cka, linear_cka
from harness_plugins.analyses.stats.stability import cosine_movement, relative_movement
from harness_plugins.analyses.text import num


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


def analyze(ctx: CompareContext) -> AnalysisResult:
    task = clean_task(ctx)
    clean = _load_clean(ctx, task)
    n = len(clean[0].doc_ids)
    depth = Table("Layer-to-layer similarity (linear CKA of the answer-position states)",
                  ["backbone", "items", "layers", "mean adjacent CKA", "lowest adjacent CKA (layer)"],
                  note="CKA between consecutive layers over the same items; 1 = the layer changes nothing up to rotation and scale")
    data: dict = {"items": n, "layer_cka": {}, "perturbations": {}}
    findings: list[str] = []
    curves: dict[str, list[float]] = {}
    plots: list[str] = []
    for label, hs in zip(ctx.labels, clean):
        values = layer_cka(hs.states.transpose(1, 0, 2)) if n >= 2 else np.array([])
        curves[label] = [float(v) for v in values]
        data["layer_cka"][label] = curves[label]
        low = int(np.nanargmin(values)) if len(values) else -1
        depth.rows.append([label, str(n), str(hs.states.shape[1] - 1 if n else 0), num(float(np.nanmean(values))) if len(values) else "n/a",
                           f"{num(float(values[low]))} ({low}->{low + 1})" if len(values) else "n/a"])
    if n >= 2:
        findings.append("Adjacent-layer CKA (how much each layer preserves the previous one's geometry) averages "
                        + ", ".join(f"{label} {num(float(np.nanmean(v)))}" for label, v in curves.items()) + ".")
    moves = Table("Movement of the final-layer answer representation under perturbations",
                  ["backbone", "perturbation", "items", "cosine movement", "relative movement", "CKA clean vs perturbed"],
                  note="cosine movement: mean 1 - cos(h(x), h(x')); relative movement: mean ||h(x) - h(x')|| over the "
                       "mean distance between different items (0: unmoved, 1: as far as another item)")
    sets = [perturbation_sets(hidden_state_files(run), task) for run in ctx.runs]
    names = sorted(set().union(*sets))
    for name in names:
        per_layer: dict[str, list[float]] = {}
        summary: dict[str, dict] = {}
        for label, hs, available in zip(ctx.labels, clean, sets):
            if name not in available:
                moves.rows.append([label, name, "0", "not evaluated", "", ""])
                continue
            pert = load_hidden_states(available[name], hs.doc_ids)
            keep = [hs.doc_ids.index(d) for d in pert.doc_ids]
            base = hs.states[keep]
            if len(keep) < 2:
                moves.rows.append([label, name, str(len(keep)), "too few items", "", ""])
                continue
            layers = range(base.shape[1])
            rel = [relative_movement(base[:, l], pert.states[:, l]) for l in layers]
            per_layer[label] = rel
            summary[label] = {"items": len(keep), "cosine_movement": cosine_movement(base[:, -1], pert.states[:, -1]),
                              "relative_movement": rel[-1], "cka": linear_cka(base[:, -1], pert.states[:, -1]),
                              "relative_movement_per_layer": rel}
            s = summary[label]
            moves.rows.append([label, name, str(len(keep)), num(s["cosine_movement"]), num(s["relative_movement"]), num(s["cka"])])
        data["perturbations"][name] = summary
        if summary:
            steady = min(summary, key=lambda k: summary[k]["relative_movement"])
            findings.append(f"Under {name}, {steady}'s final answer representation moves least (relative movement "
                            f"{num(summary[steady]['relative_movement'])}; "
                            + ", ".join(f"{k} {num(v['relative_movement'])}" for k, v in summary.items() if k != steady) + ").")
            path = ctx.plot_path(f"stability_{name}.png")
            if path is not None:
                from harness_plugins.analyses.plots import layer_curves

                layer_curves(per_layer, f"Movement under {name}: {ctx.task}", "relative movement", path)
                plots.append(str(path))
    if not names:
        moves.note = f"no perturbation sets were evaluated; {rerun_hint(task)}"
        findings.append(f"Movement under perturbations was not measured: the runs hold no hidden states of perturbed "
                        f"inputs ({rerun_hint(task)}).")
    result = AnalysisResult("stability", "Representation stability", [depth, moves], findings, data)
    result.plots.extend(plots)
    path = ctx.plot_path("layer_cka.png")
    if path is not None and n >= 2:
        from harness_plugins.analyses.plots import layer_curves

        layer_curves(curves, f"Adjacent-layer CKA: {ctx.task}", "CKA(layer, next layer)", path)
        result.plots.append(str(path))
    return result
