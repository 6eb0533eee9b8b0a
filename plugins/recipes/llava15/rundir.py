"""Ownership of a training run directory: a run is written only by the training it belongs to.

``training.json`` records the training hash and the status (``running`` / ``finished``). A directory
holding a finished run, another training's run, or files the harness did not write is refused; a
started run continues only with ``resume=true``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError
from harness.runs import write_atomically

STATE = "training.json"
# What a run directory may hold before training starts (written by `harness.runs.create_run_dir`).
PRE_TRAINING = {"config.yaml"}


@dataclass
class RunState:
    training_hash: str
    status: str  # "running" | "finished"
    stages_done: list[str]
    export: str | None = None

    def save(self, run_dir: Path) -> None:
        write_atomically(run_dir / STATE, json.dumps(self.__dict__, indent=2) + "\n")


def _config_training_hash(run_dir: Path) -> str | None:
    path = run_dir / "config.yaml"
    if not path.is_file():
        return None
    try:
        doc: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        return doc["hashes"]["training"]
    except (yaml.YAMLError, KeyError, TypeError):
        raise HarnessError(f"{path} is not a harness run config", "pick another run directory") from None


def check(run_dir: Path, training_hash: str, resume: bool) -> RunState | None:
    """Raise if the directory may not be trained into; its resumable state, or None for a new run. Writes nothing."""
    run_dir = Path(run_dir)
    config_hash = _config_training_hash(run_dir) if run_dir.is_dir() else None
    if config_hash is not None and config_hash != training_hash:
        raise HarnessError(
            f"{run_dir} holds a run with training hash {config_hash}, this config's is {training_hash}",
            "pick another run directory (the training config differs: backbone, vision, recipe, data or seed)",
        )
    state_path = run_dir / STATE
    if state_path.is_file():
        try:
            state = RunState(**json.loads(state_path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError):
            raise HarnessError(f"{state_path} is damaged", "pick another run directory") from None
        if state.training_hash != training_hash:
            raise HarnessError(
                f"{run_dir} holds a training with hash {state.training_hash}, this config's is {training_hash}",
                "resume only the run this config trained, or pick another run directory",
            )
        if state.status == "finished":
            raise HarnessError(f"{run_dir} holds a finished training (export at {state.export})",
                               "use that checkpoint, or pick another run directory")
        if not resume:
            raise HarnessError(f"{run_dir} holds an interrupted training", "pass resume=true to continue it, or pick another run directory")
        return state
    if run_dir.is_dir():
        foreign = sorted(p.name for p in run_dir.iterdir() if p.name not in PRE_TRAINING and not p.name.startswith("."))
        if foreign:
            raise HarnessError(f"{run_dir} already holds files the recipe did not write ({', '.join(foreign[:3])})",
                               "pick an empty or new run directory")
    return None


def claim(run_dir: Path, training_hash: str, resume: bool) -> RunState:
    """Check the directory may be trained into, and return its (new or resumed) state."""
    run_dir = Path(run_dir)
    state = check(run_dir, training_hash, resume)
    if state is not None:
        return state
    run_dir.mkdir(parents=True, exist_ok=True)
    state = RunState(training_hash, "running", [])
    state.save(run_dir)
    return state
