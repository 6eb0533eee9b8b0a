"""Answer-position hidden states that the evaluation saved beside a run (``eval.save_hidden_states=true``).

The evaluation plugin writes one safetensors file per evaluated task, ``hidden_states_<task>.safetensors``,
mapping each doc id to a (layers + 1) x hidden array (embeddings first). A perturbation set of task
``T`` is the task ``T_<perturbation>`` whose doc ``i`` is a perturbed copy of doc ``i`` of ``T``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.store import RunRecord
from harness_plugins.scene.perturb import PERTURBATIONS  # the sets the scene world generates

PREFIX, SUFFIX = "hidden_states_", ".safetensors"


@dataclass
class HiddenStates:
    """Hidden states of one run on one task, stacked over doc ids: items x (layers + 1) x hidden."""

    doc_ids: list[int]
    states: np.ndarray


def hidden_state_files(run: RunRecord) -> dict[str, Path]:
    """Task name -> hidden-state file, found anywhere under the run directory."""
    if not run.run_dir or not Path(run.run_dir).is_dir():
        return {}
    files = {}
    for path in sorted(Path(run.run_dir).rglob(f"{PREFIX}*{SUFFIX}")):
        files[path.name[len(PREFIX):-len(SUFFIX)]] = path
    return files


def load_hidden_states(path: Path, doc_ids: list[int] | None = None) -> HiddenStates:
    """Read a hidden-state file (optionally only ``doc_ids``, in that order) as float64."""
    from harness.evaluation.sidecar import read_hidden_states

    by_doc = read_hidden_states(path)
    ids = sorted(by_doc) if doc_ids is None else [d for d in doc_ids if d in by_doc]
    if not ids:
        return HiddenStates([], np.zeros((0, 0, 0)))
    return HiddenStates(ids, np.stack([by_doc[d] for d in ids]).astype(np.float64))


def perturbation_sets(files: dict[str, Path], task: str) -> dict[str, Path]:
    """Perturbation name -> file, for the sets ``<task>_<perturbation>`` the run evaluated."""
    return {name[len(task) + 1:]: path for name, path in files.items() if name.startswith(task + "_")}


def rerun_hint(task: str) -> str:
    tasks = ",".join([task] + [f"{task}_{p}" for p in PERTURBATIONS])
    return f"rerun with eval.save_hidden_states=true eval.tasks={tasks}"
