"""Seed replicates: runs that differ only in ``seed`` (projector initialisation and data order) are
replicates of one cell of the study, not an uncontrolled comparison.

``cell_key`` groups a backbone's replicates; ``controlled_key`` is the controlled hash without the
seed, so backbones trained with different seeds still compare. Both read the config stored with the run.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.store import RunRecord

REPLICATE_KEYS = ("seed", "resume")  # what replicates of one cell may differ in (resume changes nothing)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def seed_of(run: RunRecord) -> Any:
    """The run's training seed (None when its stored config has none)."""
    return run.config.get("seed") if isinstance(run.config, dict) else None


def cell_key(run: RunRecord) -> str:
    """Equal for runs that differ only in the seed: the task, the backbone and every other setting."""
    config = {k: v for k, v in (run.config or {}).items() if k not in REPLICATE_KEYS}
    return _digest([run.task, run.backbone, run.variant, config])


def controlled_key(run: RunRecord) -> str:
    """The controlled hash with the seed left out (runs whose config records no seed keep their hash)."""
    if not isinstance(run.config, dict) or "seed" not in run.config:
        return run.controlled_hash
    return _digest({k: v for k, v in run.config.items() if k not in REPLICATE_KEYS + ("backbone",)})


def replicates_of(run: RunRecord, runs: list[RunRecord]) -> list[RunRecord]:
    """``run`` first, then the newest run of each other seed of its cell (``runs`` newest first)."""
    key, found, seeds = cell_key(run), [run], {repr(seed_of(run))}
    for other in runs:
        if other.run_id != run.run_id and cell_key(other) == key and repr(seed_of(other)) not in seeds:
            seeds.add(repr(seed_of(other)))
            found.append(other)
    return found


def seed_sweep_command(task: str, backbones: list[str], seeds: int = 3) -> str:
    """The command that trains the missing replicates of a comparison."""
    return (f"harness run -m task={task} backbone={','.join(backbones)} "
            f"seed={','.join(str(s) for s in range(seeds))}")
