"""Trained checkpoints, keyed by the training-config hash, so runs that train the same thing
(same backbone, vision, recipe, data and seed) reuse one checkpoint instead of training again."""
from __future__ import annotations

import json
from pathlib import Path

from harness.paths import home
from harness.runs import write_atomically

MARKER = "checkpoint.json"


def training_dir(training_hash: str) -> Path:
    """Where the recipe trains (and resumes) for this training hash."""
    return home() / "checkpoints" / training_hash


def training_lock(training_hash: str) -> Path:
    """The lock of the training folder (:mod:`harness.locks`): one process trains a training hash at a time."""
    return home() / "checkpoints" / f"{training_hash}.lock"


def evaluation_lock(run_hash: str) -> Path:
    """The lock of one run config's evaluation: one process at a time evaluates a config (another waits,
    then takes its answers from the cache); evaluations of other configs of one checkpoint run beside it."""
    return home() / "cache" / "eval" / f"{run_hash}.lock"


def finished_checkpoint(training_hash: str) -> Path | None:
    """The exported checkpoint of a finished training with this hash, if there is one."""
    marker = training_dir(training_hash) / MARKER
    if not marker.is_file():
        return None
    path = Path(json.loads(marker.read_text())["checkpoint"])
    return path if path.is_dir() else None


def mark_finished(training_hash: str, checkpoint: Path) -> None:
    """Record that training finished and where its export is (written last, atomically)."""
    marker = training_dir(training_hash) / MARKER
    write_atomically(marker, json.dumps({"training_hash": training_hash, "checkpoint": str(checkpoint)}))
