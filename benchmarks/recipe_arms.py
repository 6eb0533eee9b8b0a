"""Two training arms on the validation split, seed by seed: does a recipe change move what the VLMs perceive?

Where a budget or a stage is chosen (issue 12: "honest selection"), one arm is the default and the other
the same command with some overrides, each trained at several seeds on the validation tasks
(``task=vqa_val``, then ``task=description_val`` on the same checkpoint). This reads a home's store and
finds every run of each arm by its training hash, resolved by the harness's own config code from
``backbone``, ``seed`` and the arm's overrides, so a run of another config (another loss setting,
another ``max_length``) never slips into an arm. It prints:

1. one row per run: exact match (Wilson 95%, blind), colour / shape / exists, colour on scenes of
   several objects (binding, beside its chance), description attribute F1, the machine that trained it;
2. per backbone and measure: the two arms' means, the difference, Welch's t-test
   (``scipy.stats.ttest_ind(equal_var=False)``; needs two runs an arm) and the Holm-adjusted p over
   every comparison in the table (statsmodels);
3. pooled over backbones: OLS ``measure ~ arm + C(backbone)`` (statsmodels), the arm's effect with its
   95% interval, Holm-adjusted over the measures.

Runs a seed lacks are listed with the command that makes them. A benchmark, not a test: it reports.

    python benchmarks/recipe_arms.py --home H --arm "data.perceive=scene data.perceive_types=colour,shape,exists,description" --seeds 0,1
"""
from __future__ import annotations

import argparse
import math
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness.analysis.stats.multiplicity import holm  # noqa: E402
from study_floors import blind_metric, description_counts, fmt, print_markdown, scenes_by_id, wilson  # noqa: E402

VQA, DESCRIPTION = "vqa_scene_val", "scene_description_val"
MIN_RESIDUAL_DF = 2  # the pooled fit needs this many runs beyond its parameters
MEASURES = ("exact match", "colour", "shape", "exists", "colour: several objects", "description F1")


@dataclass
class ArmRun:
    """The validation measures of one arm's checkpoint at one seed (None where a run is missing)."""

    backbone: str
    arm: str
    seed: int
    training_hash: str
    values: dict[str, float] = field(default_factory=dict)
    cells: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def training_hash(backbone: str, seed: int, overrides: list[str]) -> str:
    """The training hash ``harness run task=vqa_val backbone=B seed=S <overrides>`` trains under."""
    from harness.cli.config_cmds import resolve_cells

    (resolved,) = resolve_cells(("task=vqa_val", f"backbone={backbone}", f"seed={seed}", *overrides), multirun=False)
    return resolved.hashes["training"]


def _latest(store: Any, task: str, backbone: str, wanted: str) -> Any:
    runs = [run for run in store.runs(task=task, backbone=backbone) if run.training_hash == wanted]
    return max(runs, key=lambda run: run.created) if runs else None


def _rate(samples: list[Any], qtype: str | None = None) -> tuple[float, int]:
    scores = [s.score or 0.0 for s in samples if qtype is None or s.extra.get("doc", {}).get("qtype") == qtype]
    return (sum(scores) / len(scores) if scores else float("nan")), len(scores)


def measure(store: Any, arm: ArmRun, scenes: dict[str, Any] | None) -> ArmRun:
    """Fill ``arm`` from its latest vqa_scene_val and scene_description_val runs."""
    from harness_plugins.scene.binding import binding_split

    run = _latest(store, VQA, arm.backbone, arm.training_hash)
    if run is None:
        arm.missing.append("vqa_val")
    else:
        samples = store.samples(run.run_id, VQA)
        rate, n = _rate(samples)
        blind = blind_metric(store, run.run_id, VQA, "exact_match")
        arm.values["exact match"] = rate
        arm.cells["exact match"] = fmt(*wilson(rate * n, n)) + (f" ({blind:.3f})" if blind is not None else "")
        for qtype in ("colour", "shape", "exists"):
            arm.values[qtype], _ = _rate(samples, qtype)
            arm.cells[qtype] = f"{arm.values[qtype]:.2f}"
        if scenes is not None:
            split = binding_split(((s.prediction, s.target, scenes[s.extra["doc"]["id"]]) for s in samples
                                   if s.extra.get("doc", {}).get("qtype") == "colour"), "colour")
            if split.multi_n:
                arm.values["colour: several objects"] = split.multi_hits / split.multi_n
                arm.cells["colour: several objects"] = (f"{arm.values['colour: several objects']:.2f} "
                                                        f"(chance {split.multi_chance:.2f})")
        arm.cells["trained on"] = run.versions.get("train_compute", "-")
    run = _latest(store, DESCRIPTION, arm.backbone, arm.training_hash)
    if run is None:
        arm.missing.append("description_val")
    else:
        from harness_plugins.scene.metrics import micro_f1

        arm.values["description F1"] = micro_f1(description_counts(store.samples(run.run_id, DESCRIPTION)))["f1"]
        arm.cells["description F1"] = f"{arm.values['description F1']:.3f}"
    return arm


def welch(base: list[float], arm: list[float]) -> float:
    """Welch's two-sided p (nan with fewer than two runs an arm, or no spread in either: nothing to test)."""
    from scipy.stats import ttest_ind

    if len(base) < 2 or len(arm) < 2 or (len(set(base)) == 1 and len(set(arm)) == 1):
        return float("nan")
    return float(ttest_ind(arm, base, equal_var=False).pvalue)


def _p(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3g}"


def difference_rows(runs: list[ArmRun], base: str, arm: str) -> list[list[str]]:
    """Per backbone and measure: base mean (n), arm mean (n), difference, Welch p, Holm p."""
    rows, pvalues = [], []
    for backbone in sorted({r.backbone for r in runs}):
        for name in MEASURES:
            groups = {label: [r.values[name] for r in runs if r.backbone == backbone and r.arm == label
                              and name in r.values and not math.isnan(r.values[name])] for label in (base, arm)}
            if not groups[base] or not groups[arm]:
                continue
            mean_base, mean_arm = (sum(v) / len(v) for v in (groups[base], groups[arm]))
            pvalues.append(welch(groups[base], groups[arm]))
            rows.append([backbone, name, f"{mean_base:.3f} (n={len(groups[base])})",
                         f"{mean_arm:.3f} (n={len(groups[arm])})", f"{mean_arm - mean_base:+.3f}", _p(pvalues[-1])])
    for row, adjusted in zip(rows, holm(pvalues)):
        row.append(_p(adjusted))
    return rows


def pooled_rows(runs: list[ArmRun], arm: str) -> list[list[str]]:
    """OLS measure ~ arm + C(backbone) over every run: the arm's effect, 95% interval, p, Holm p."""
    import pandas as pd
    import statsmodels.formula.api as smf

    rows, pvalues = [], []
    for name in MEASURES:
        frame = pd.DataFrame([{"y": r.values[name], "arm": float(r.arm == arm), "backbone": r.backbone}
                              for r in runs if name in r.values and not math.isnan(r.values[name])])
        if frame.empty or frame["arm"].nunique() < 2:
            continue
        formula = "y ~ arm + C(backbone)" if frame["backbone"].nunique() > 1 else "y ~ arm"
        fit = smf.ols(formula, data=frame).fit()
        if fit.df_resid < MIN_RESIDUAL_DF:  # a (near-)exact fit has no error to test against
            continue
        low, high = fit.conf_int().loc["arm"]
        pvalues.append(float(fit.pvalues["arm"]))
        rows.append([name, f"{fit.params['arm']:+.3f} [{low:+.2f}, {high:+.2f}]", str(len(frame)), _p(pvalues[-1])])
    for row, adjusted in zip(rows, holm(pvalues)):
        row.append(_p(adjusted))
    return rows


def collect(home: Path, arms: dict[str, list[str]], backbones: list[str], seeds: list[int]) -> list[ArmRun]:
    """Every (backbone, arm, seed) of the home, measured; those without a vqa_val run are kept as missing."""
    from harness.store import open_store

    try:
        scenes = scenes_by_id(home, suffix="_val")
    except FileNotFoundError:  # a home without its scene data build: no binding column
        scenes = None
    with open_store(home / "results.sqlite") as store:
        return [measure(store, ArmRun(backbone, label, seed, training_hash(backbone, seed, overrides)), scenes)
                for backbone in backbones for label, overrides in arms.items() for seed in seeds]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="HARNESS_HOME holding the validation runs")
    parser.add_argument("--arm", required=True, help="the overrides of the arm, as on the command line")
    parser.add_argument("--base", default="", help="the overrides of the base arm (default: none, the default recipe)")
    parser.add_argument("--backbones", default="llama1,llama2,llama3")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args(argv)
    arms = {"base": shlex.split(args.base), "arm": shlex.split(args.arm)}
    runs = collect(args.home, arms, args.backbones.split(","), [int(s) for s in args.seeds.split(",")])
    found = [r for r in runs if r.values]
    print_markdown(["backbone", "arm", "seed", "training hash", "exact match [95%] (blind)", "colour", "shape",
                    "exists", "colour: several objects", "description F1", "trained on"],
                   [[r.backbone, r.arm, str(r.seed), r.training_hash] + [r.cells.get(k, "-") for k in
                    ("exact match", "colour", "shape", "exists", "colour: several objects", "description F1",
                     "trained on")] for r in found])
    print(f"\nbase: {args.base or '(the default recipe)'}; arm: {args.arm}")
    print()
    print_markdown(["backbone", "measure", "base mean", "arm mean", "arm - base", "Welch p", "Holm p"],
                   difference_rows(found, "base", "arm"))
    print()
    print_markdown(["measure (pooled: ~ arm + C(backbone))", "arm effect [95%]", "runs", "p", "Holm p"],
                   pooled_rows(found, "arm"))
    print(f"(pooled rows need {MIN_RESIDUAL_DF} runs beyond the fit's parameters; Welch needs two runs an arm)")
    for r in runs:
        overrides = " ".join(shlex.quote(o) for o in arms[r.arm])
        for task in r.missing:
            print(f"missing: {r.backbone} {r.arm} seed {r.seed}: harness --home {args.home} run task={task} "
                  f"backbone={r.backbone} seed={r.seed} eval.blind=true {overrides}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
