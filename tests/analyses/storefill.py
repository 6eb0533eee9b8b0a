"""Fill a results store with synthetic runs through the store's public API (for analysis tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.store import MetricRow, RunRecord, SampleRow, open_store

TASK = "vqa_scene"
QTYPES = ("color", "count", "spatial")


def config(seed: int = 0, **changes) -> dict:
    cfg = {"task": {"name": TASK}, "vision": {"name": "clip", "variant": "tiny"}, "recipe": {"name": "llava15", "lr": 2e-5},
           "data": {"train": "scene", "scene_seed": seed}, "eval": {"limit": None, "save_hidden_states": False}, "seed": 0}
    for dotted, value in changes.items():
        section, key = dotted.split(".")
        cfg[section][key] = value
    return cfg


def add_run(store_path: Path, backbone: str, correct, confidence=None, *, run_id: str | None = None,
            cfg: dict | None = None, controlled: str = "ctl0", metrics: dict[str, float] | None = None,
            run_dir: str = "", task: str = TASK, qtypes=QTYPES, finished: str = "") -> str:
    """One finished run of ``backbone``: item i scores correct[i], with confidence[i] (None: not saved)."""
    run_id = run_id or f"run-{backbone}"
    correct = np.asarray(correct)
    samples = [SampleRow(task, i, "yes" if c else "no", "yes", float(c),
                         None if confidence is None else float(confidence[i]),
                         {"doc": {"qtype": qtypes[i % len(qtypes)]}, "metrics": {"exact_match": float(c)}})
               for i, c in enumerate(correct)]
    rows = [MetricRow(task, "exact_match", float(correct.mean()), 0.01, True, True)]
    rows += [MetricRow(task, name, value, None, True, False) for name, value in (metrics or {}).items()]
    record = RunRecord(run_id, task, backbone, "tiny", "clip", "llava15", cfg or config(), f"h-{run_id}",
                       f"t-{backbone}", controlled, run_dir=run_dir, finished=finished)
    with open_store(store_path) as store:
        store.add_run(record, rows, samples)
    return run_id


def different_not_more(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two systems of equal accuracy that solve largely different items."""
    rng = np.random.default_rng(seed)
    a = rng.random(n) < 0.5
    b = a.copy()
    flip = rng.choice(n, size=n // 3, replace=False)
    # Flip as many solved as unsolved items, so accuracy stays equal and the overlap shrinks.
    solved, unsolved = [i for i in flip if a[i]], [i for i in flip if not a[i]]
    k = min(len(solved), len(unsolved))
    b[solved[:k]] = False
    b[unsolved[:k]] = True
    return a.astype(int), b.astype(int)


def write_hidden_states(run_dir: Path, task: str, states: np.ndarray) -> None:
    """Hidden states (items x (layers + 1) x hidden) as the evaluation writes them, doc id = row."""
    from harness.evaluation.sidecar import write_task_sidecars

    write_task_sidecars(run_dir / "eval", task, {i: {"text": ""} for i in range(len(states))},
                        {i: states[i].astype(np.float16) for i in range(len(states))})
