"""Records that go in and out of the results store."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunRecord:
    """One evaluated run: what ran (config and its hashes), with which versions, and how long."""

    run_id: str
    task: str
    backbone: str
    variant: str
    vision: str
    recipe: str
    config: dict[str, Any]
    run_hash: str
    training_hash: str
    controlled_hash: str
    run_dir: str = ""
    status: str = "finished"
    versions: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    created: str = ""
    finished: str = ""


@dataclass
class MetricRow:
    task: str
    metric: str
    value: float
    stderr: float | None = None
    higher_is_better: bool = True
    primary: bool = False


@dataclass
class SampleRow:
    task: str
    doc_id: int
    prediction: str
    target: str
    score: float | None = None
    confidence: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
