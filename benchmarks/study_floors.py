"""The default miniature study against its floors: does every VLM perceive the image?

Runs the README's three-task, three-backbone sweep on a fresh home (or reads a home that already
holds it, ``--no-run``), then prints, per backbone: the perception question types of ``vqa_scene``
(colour, shape, exists) with Wilson 95% intervals, exact match against the majority-answer and the
blind (images blanked) baselines, scene-description attribute F1 (bootstrap interval) and coordinate
prediction, and the reasoning types, which get no floor: that is where backbones may differ. A second
table splits the colour and shape answers into perception and binding (:mod:`harness_plugins.scene.binding`):
one-object scenes, several-object scenes beside the chance of naming a random value in the image,
and how often an answer names a value the image holds. A benchmark, not a test: it reports numbers
and wall time, and exits 1 when a floor is missed.

    python benchmarks/study_floors.py                  # fresh temporary home, the full sweep (two cells at once)
    python benchmarks/study_floors.py --home H --no-run  # the table for a home that holds the sweep
    python benchmarks/study_floors.py --home H --no-run --split val  # the same tables for validation runs
                                                       # (task=vqa_val etc.: where budgets are chosen)
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SWEEP = ["run", "-m", "task=vqa,description,coords", "backbone=llama1,llama2,llama3", "eval.blind=true"]
SPLITS = {"test": "", "val": "_val"}  # --split -> the suffix of the task names (vqa_scene_val, ...)
PERCEPTION = ("colour", "shape", "exists")
REASONING = ("count", "compare", "spatial", "composition")
FLOOR_PERCEPTION = 0.80
FLOOR_DESCRIPTION_F1 = 0.50


def wilson(hits: float, n: int) -> tuple[float, float, float]:
    """(rate, low, high): the Wilson score 95% interval (statsmodels), exact enough at 0/n and n/n."""
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = proportion_confint(hits, n, alpha=0.05, method="wilson")
    return hits / n, float(low), float(high)


def latest_runs(store: Any, task: str) -> dict[str, Any]:
    """backbone -> its latest finished run of ``task``."""
    runs: dict[str, Any] = {}
    for run in sorted(store.runs(task=task), key=lambda r: r.created):
        runs[run.backbone] = run
    return runs


def metric(store: Any, run_id: str, task: str, name: str) -> tuple[float | None, float | None]:
    for row in store.metrics(run_id):
        if row.task == task and row.metric == name:
            return row.value, row.stderr
    return None, None


def blind_metric(store: Any, run_id: str, task: str, name: str) -> float | None:
    """The blind pass's value of ``name`` (stored as the task ``<task>@blind``), or None without one."""
    from harness.evaluation.blind import blind_task

    value, _ = metric(store, run_id, blind_task(task), name)
    return value


def description_counts(samples: list[Any]) -> list[dict[str, int]]:
    """Per stored description: its true-positive, predicted and gold attribute facts (``micro_f1``'s input)."""
    from harness_plugins.scene.metrics import description_facts
    from harness_plugins.scene.world import parse_description

    counts = []
    for sample in samples:
        predicted = description_facts(parse_description(sample.prediction))
        gold = description_facts(parse_description(sample.target))
        counts.append({"tp": sum((predicted & gold).values()), "pred": sum(predicted.values()),
                       "gold": sum(gold.values())})
    return counts


def description_f1(samples: list[Any]) -> tuple[float, float, float]:
    """(F1, low, high): micro attribute F1 over the stored descriptions and its 95% bootstrap interval.

    The F1 is corpus-level (facts pooled over items, then one F1: the task's own ``micro_f1``), so there
    is no per-item stderr: the descriptions are resampled (scipy's percentile bootstrap, 2,000
    resamples, seeded) and the F1 recomputed from each resample's pooled counts. Counts are recomputed
    from each stored prediction against its stored reference description, which states exactly the
    scene's annotated facts (tests/scene/test_world.py checks that round trip), so they equal the
    task's own counts.
    """
    import numpy as np
    from scipy.stats import bootstrap

    from harness_plugins.scene.metrics import micro_f1

    counts = description_counts(samples)
    if not counts:
        return float("nan"), float("nan"), float("nan")
    f1 = micro_f1(counts)["f1"]
    if len(counts) < 2:
        return f1, float("nan"), float("nan")
    result = bootstrap((np.arange(len(counts)),), lambda idx: micro_f1([counts[i] for i in idx])["f1"],
                       vectorized=False, n_resamples=2000, method="percentile", random_state=0)
    return f1, float(result.confidence_interval.low), float(result.confidence_interval.high)


def fmt(rate: float, low: float, high: float) -> str:
    return f"{rate:.3f} [{low:.2f}, {high:.2f}]"


def study_rows(home: Path, suffix: str = "") -> tuple[list[list[str]], list[str]]:
    """The floors table (rows of cells) and the list of missed floors; ``suffix`` "_val": validation runs."""
    from harness.store import open_store

    missed: list[str] = []
    rows: list[list[str]] = []
    with open_store(home / "results.sqlite") as store:
        vqa_task, desc_task, coords_task = (f"{t}{suffix}" for t in
                                            ("vqa_scene", "scene_description", "coordinate_prediction"))
        vqa, desc, coords = latest_runs(store, vqa_task), latest_runs(store, desc_task), latest_runs(store, coords_task)
        for backbone in sorted(vqa):
            run = vqa[backbone]
            samples = store.samples(run.run_id, vqa_task)
            cells = [backbone]
            for qtype in PERCEPTION + REASONING:
                scores = [s.score or 0.0 for s in samples if s.extra.get("doc", {}).get("qtype") == qtype]
                rate, low, high = wilson(sum(scores), len(scores))
                cells.append(f"{fmt(rate, low, high)} n={len(scores)}")
                if qtype in PERCEPTION and not rate >= FLOOR_PERCEPTION:
                    missed.append(f"{backbone} {qtype} {rate:.3f} < {FLOOR_PERCEPTION}")
            rate, low, high = wilson(sum(s.score or 0.0 for s in samples), len(samples))
            majority, _ = metric(store, run.run_id, vqa_task, "majority_baseline")
            blind = blind_metric(store, run.run_id, vqa_task, "exact_match")
            cells += [fmt(rate, low, high), f"{majority:.3f}" if majority is not None else "-",
                      f"{blind:.3f}" if blind is not None else "-"]
            if majority is None or not low > majority:
                missed.append(f"{backbone} exact match interval [{low:.3f}, {high:.3f}] not above majority {majority}")
            if backbone in desc:
                f1, low, high = description_f1(store.samples(desc[backbone].run_id, desc_task))
                blind_f1 = blind_metric(store, desc[backbone].run_id, desc_task, "attribute_f1")
                cells.append(fmt(f1, low, high) + (f" (blind {blind_f1:.3f})" if blind_f1 is not None else ""))
                if not f1 >= FLOOR_DESCRIPTION_F1:
                    missed.append(f"{backbone} description F1 {f1:.3f} < {FLOOR_DESCRIPTION_F1}")
            else:
                cells.append("-")
                missed.append(f"{backbone}: no {desc_task} run")
            if backbone in coords:
                hits = [s.score or 0.0 for s in store.samples(coords[backbone].run_id, coords_task)]
                cells.append(fmt(*wilson(sum(hits), len(hits))))
            else:
                cells.append("-")
            rows.append(cells)
    return rows, missed


def scenes_by_id(home: Path, seed: int = 0, suffix: str = "") -> dict[str, Any]:
    """vqa_scene``suffix`` item id -> its scene annotation, from the home's scene data build (the sweep's seed)."""
    import datasets

    from harness_plugins.scene.dataset import data_dir

    folder = data_dir(home / "data" / "scene", seed) / f"vqa_scene{suffix}"
    table = datasets.load_from_disk(str(folder))["test"].select_columns(["id", "scene"])
    return dict(zip(table["id"], table["scene"]))


def binding_rows(home: Path, suffix: str = "") -> list[list[str]]:
    """Per backbone: the perceive-or-bind split of its vqa_scene``suffix`` colour and shape answers."""
    from harness.store import open_store
    from harness_plugins.scene.binding import ATTRIBUTES, binding_split

    scenes = scenes_by_id(home, suffix=suffix)
    rows: list[list[str]] = []
    with open_store(home / "results.sqlite") as store:
        for backbone, run in sorted(latest_runs(store, f"vqa_scene{suffix}").items()):
            samples = store.samples(run.run_id, f"vqa_scene{suffix}")
            cells = [backbone]
            for qtype in ATTRIBUTES:
                split = binding_split(((s.prediction, s.target, scenes[s.extra["doc"]["id"]]) for s in samples
                                       if s.extra.get("doc", {}).get("qtype") == qtype), qtype)
                cells += [f"{fmt(*wilson(split.single_hits, split.single_n))} n={split.single_n}",
                          f"{fmt(*wilson(split.multi_hits, split.multi_n))} (chance {split.multi_chance:.2f}) "
                          f"n={split.multi_n}",
                          f"{split.in_image / split.n:.2f} (chance {split.in_image_chance:.2f})" if split.n else "-"]
            rows.append(cells)
    return rows


def print_binding(rows: list[list[str]]) -> None:
    from harness_plugins.scene.binding import ATTRIBUTES

    header = ["backbone"] + [f"{q}: {part}" for q in ATTRIBUTES
                             for part in ("one object", "several objects", "in the image")]
    print()
    print_markdown(header, rows)
    print("one object: nothing to bind (perception); several objects: beside the chance of naming a random "
          "value the image holds (binding rises above it); in the image: answers naming a value the image "
          "holds, beside a random value's chance of doing so (perception rises above it)")


def print_markdown(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


def print_table(rows: list[list[str]], seconds: float | None) -> None:
    header = (["backbone"] + [f"{q}" for q in PERCEPTION + REASONING]
              + ["exact match", "majority", "blind", "description F1", "coords within tol."])
    print_markdown(header, rows)
    print(f"floors: {', '.join(PERCEPTION)} >= {FLOOR_PERCEPTION}; exact-match interval above the majority "
          f"baseline; description F1 >= {FLOOR_DESCRIPTION_F1}; 95% intervals: Wilson, description F1 bootstrap")
    if seconds is not None:
        print(f"sweep wall time: {seconds:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None, help="HARNESS_HOME (default: a fresh temporary folder)")
    parser.add_argument("--no-run", action="store_true", help="only read the home's store")
    parser.add_argument("--parallel", type=int, default=2,
                        help="cells at once (sweep.parallel; default 2: on the 2-core CPU two one-thread trainings "
                             "finetune about 11,000 tokens/s together, one on both cores about 9,200)")
    parser.add_argument("--split", choices=sorted(SPLITS), default="test",
                        help="val: the validation tasks (vqa_val, description_val, coords_val) instead of the evaluation sets")
    args = parser.parse_args(argv)
    suffix = SPLITS[args.split]
    home = args.home or Path(tempfile.mkdtemp(prefix="study-floors-"))
    seconds = None
    if not args.no_run:
        start = time.perf_counter()
        sweep = [arg.replace(",", f"{suffix},") + suffix if arg.startswith("task=") else arg for arg in SWEEP]
        subprocess.run(["harness", "--home", str(home), *sweep, f"sweep.parallel={args.parallel}"], check=True,
                       env=os.environ.copy())
        seconds = time.perf_counter() - start
    rows, missed = study_rows(home, suffix)
    print_table(rows, seconds)
    print_binding(binding_rows(home, suffix))
    for line in missed:
        print(f"missed: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
