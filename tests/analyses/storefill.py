"""Fill a results store with synthetic runs through the store's public API (for analysis tests).

Items have varied targets per question type (the majority-answer baseline of a group is about 1/4), a
run answers the target where it is correct and a varied wrong answer elsewhere (so it is no constant
predictor unless asked), and may carry a blind pass (``blind=``) and a seed (``seed=``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.store import MetricRow, RunRecord, SampleRow, open_store

TASK = "vqa_scene"
QTYPES = ("color", "count", "spatial")
ANSWERS = {"color": ("red", "green", "blue", "yellow", "purple", "orange"), "count": ("1", "2", "3", "4"),
           "spatial": ("left", "right", "above", "below"), None: ("red", "green", "blue", "yellow", "purple", "orange")}


def config(seed: int = 0, **changes) -> dict:
    cfg = {"task": {"name": TASK}, "vision": {"name": "clip", "variant": "tiny"}, "recipe": {"name": "llava15", "lr": 2e-5},
           "data": {"train": "scene", "scene_seed": seed}, "eval": {"limit": None, "save_hidden_states": False}, "seed": 0}
    for dotted, value in changes.items():
        section, _, key = dotted.partition(".")
        if key:
            cfg[section][key] = value
        else:
            cfg[section] = value
    return cfg


def qtype_of(i: int, qtypes) -> str | None:
    return qtypes[i % len(qtypes)] if qtypes else None


def target_of(i: int, qtypes=QTYPES) -> str:
    answers = ANSWERS[qtype_of(i, qtypes)]
    return answers[(i // max(len(qtypes or ()), 1)) % len(answers)]


def answer(i: int, right: bool, qtypes=QTYPES) -> str:
    """The target where ``right``, else another answer of the item's type (varied across items)."""
    answers = ANSWERS[qtype_of(i, qtypes)]
    k = answers.index(target_of(i, qtypes))
    return answers[k] if right else answers[(k + 1 + i % (len(answers) - 1)) % len(answers)]


def _samples(task, correct, confidence, qtypes, predictions, sample_metrics) -> list[SampleRow]:
    rows = []
    for i, c in enumerate(correct):
        doc = {"qtype": qtype_of(i, qtypes)} if qtypes else {}
        metrics = {"exact_match": float(c), **{k: float(v[i]) for k, v in (sample_metrics or {}).items()}}
        prediction = predictions[i] if predictions is not None else answer(i, bool(c), qtypes)
        rows.append(SampleRow(task, i, prediction, target_of(i, qtypes), float(c),
                              None if confidence is None else float(confidence[i]), {"doc": doc, "metrics": metrics}))
    return rows


def add_run(store_path: Path, backbone: str, correct, confidence=None, *, run_id: str | None = None,
            cfg: dict | None = None, controlled: str = "ctl0", metrics: dict[str, float] | None = None,
            run_dir: str = "", task: str = TASK, qtypes=QTYPES, finished: str = "", seed: int = 0,
            blind=None, predictions=None, sample_metrics: dict[str, np.ndarray] | None = None) -> str:
    """One finished run of ``backbone``: item i scores correct[i], with confidence[i] (None: not saved);
    ``blind`` (0/1 per item) adds a blind pass; ``predictions`` replaces the answers (a constant predictor)."""
    run_id = run_id or (f"run-{backbone}" + (f"-s{seed}" if seed else ""))
    correct = np.asarray(correct)
    samples = _samples(task, correct, confidence, qtypes, predictions, sample_metrics)
    rows = [MetricRow(task, "exact_match", float(correct.mean()), 0.01, True, True)]
    rows += [MetricRow(task, name, value, None, True, False) for name, value in (metrics or {}).items()]
    if blind is not None:
        blind = np.asarray(blind)
        samples += _samples(f"{task}@blind", blind, None, qtypes, None, None)
        rows.append(MetricRow(f"{task}@blind", "exact_match", float(blind.mean()), 0.01, True, True))
    cfg = dict(cfg or config())
    cfg["seed"] = seed
    record = RunRecord(run_id, task, backbone, "tiny", "clip", "llava15", cfg, f"h-{run_id}",
                       f"t-{backbone}-{seed}", f"{controlled}-s{seed}", run_dir=run_dir, finished=finished)
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


def reseeded(correct, flips: int, seed: int) -> np.ndarray:
    """Another seed of the same model: ``flips`` solved and ``flips`` unsolved items change, the rest stay."""
    rng = np.random.default_rng(seed)
    out = np.asarray(correct).copy()
    out[rng.choice(np.flatnonzero(out == 1), flips, replace=False)] = 0
    out[rng.choice(np.flatnonzero(correct == 0), flips, replace=False)] = 1
    return out


def write_hidden_states(run_dir: Path, task: str, states: np.ndarray) -> None:
    """Hidden states (items x (layers + 1) x hidden) as the evaluation writes them, doc id = row."""
    from harness.evaluation.sidecar import write_task_sidecars

    write_task_sidecars(run_dir / "eval", task, {i: {"text": ""} for i in range(len(states))},
                        {i: states[i].astype(np.float16) for i in range(len(states))})
