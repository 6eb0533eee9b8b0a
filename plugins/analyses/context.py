"""The runs being compared, loaded once from the results store and aligned item by item.

Analyses receive a :class:`CompareContext`: per-item correctness, scores and confidences as
(backbones x items) arrays over the items every run evaluated, capability groups, metrics, and the
controlled-comparison verdict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.store import MetricRow, RunRecord, SampleRow

# An item counts as solved when its score reaches this; exact-match tasks score 0 or 1, so for them
# it is exact. Graded scores (an F1, say) count as solved from one half up.
SOLVED_AT = 0.5
# Keys that name an item's capability group, looked up in the sample's extra and then in its
# document's scalar fields (the evaluation stores those under extra["doc"]).
GROUP_KEYS = ("qtype", "capability", "category")
NEEDS_FLAGS = {
    "confidence": "the evaluation records confidences by default; rerun `harness run` with the current harness",
    "hidden_states": "rerun `harness run` with eval.save_hidden_states=true",
}


@dataclass(frozen=True)
class ConfigDifference:
    """A config key whose value differs between runs (the backbone section excluded)."""

    key: str
    values: dict[str, Any]  # label -> value ("<missing>" when the run's config lacks the key)

    def text(self) -> str:
        by_value: dict[str, list[str]] = {}
        for label, value in self.values.items():
            by_value.setdefault(repr(value) if not isinstance(value, str) else value, []).append(label)
        return f"{self.key} (" + " vs ".join(f"{v} for {', '.join(ls)}" for v, ls in by_value.items()) + ")"


@dataclass
class CompareContext:
    """Everything the analyses read. Row ``i`` of every array belongs to ``labels[i]``."""

    task: str
    task_tags: tuple[str, ...]
    runs: list[RunRecord]
    labels: list[str]
    generations: list[int | None]
    items: list[tuple[str, int]]  # (task, doc_id) of each column
    scores: np.ndarray  # backbones x items, nan where a run has no score
    confidence: np.ndarray  # backbones x items, nan where a run saved none
    extras: list[dict[str, Any]]  # per item, from the first run (question type etc. are the same for all)
    metrics: list[dict[str, MetricRow]]  # per backbone: metric name -> row
    differences: list[ConfigDifference] = field(default_factory=list)
    uncontrolled: bool = False
    dropped_items: int = 0  # items not evaluated by every run, left out of the item-level analyses
    out_dir: Path | None = None  # where plots go; None: no plots
    n_resamples: int = 2000
    seed: int = 0
    alpha: float = 0.05
    _bootstrap_cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def correct(self) -> np.ndarray:
        """Backbones x items, True where the item is solved (score >= SOLVED_AT)."""
        return np.nan_to_num(self.scores, nan=0.0) >= SOLVED_AT

    @property
    def n_items(self) -> int:
        return len(self.items)

    def pairs(self) -> list[tuple[int, int]]:
        """Index pairs (i, j), i < j, in display order."""
        k = len(self.labels)
        return [(i, j) for i in range(k) for j in range(i + 1, k)]

    def groups(self, min_items: int = 1) -> dict[str, np.ndarray]:
        """Capability groups as item masks: "all" (labelled with the task's tags), then one per value of
        each sample-extra group key (``qtype=counting``), with at least ``min_items`` items."""
        groups = {"all": np.ones(self.n_items, dtype=bool)}
        for key in GROUP_KEYS:
            values = [group_value(e, key) for e in self.extras]
            for value in sorted({str(v) for v in values if v is not None}):
                mask = np.array([v is not None and str(v) == value for v in values])
                if mask.sum() >= min_items:
                    groups[f"{key}={value}"] = mask
        return groups

    def group_label(self, name: str) -> str:
        if name == "all" and self.task_tags:
            return f"all ({', '.join(self.task_tags)})"
        return name

    def has_confidence(self) -> list[bool]:
        return [bool(np.all(~np.isnan(row))) for row in self.confidence]

    def bootstrap(self, group: str = "all"):
        """The paired bootstrap of accuracy for a group (cached: several analyses read it)."""
        from harness_plugins.analyses.stats.accuracy import paired_bootstrap

        if group not in self._bootstrap_cache:
            mask = self.groups()[group]
            self._bootstrap_cache[group] = paired_bootstrap(self.correct[:, mask], self.n_resamples,
                                                            1 - self.alpha, self.seed)
        return self._bootstrap_cache[group]

    def plot_path(self, name: str) -> Path | None:
        if self.out_dir is None:
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return self.out_dir / name


def group_value(extra: dict[str, Any], key: str) -> Any:
    """The item's value for a group key, from the sample extra or the document it was built from."""
    if extra.get(key) is not None:
        return extra[key]
    doc = extra.get("doc")
    return doc.get(key) if isinstance(doc, dict) else None


def align_samples(labels: list[str], samples: list[list[SampleRow]]) -> tuple[list[tuple[str, int]], np.ndarray,
                                                                              np.ndarray, list[dict], int]:
    """Items evaluated by every run, in a fixed order, with each run's score and confidence."""
    by_run = [{(s.task, s.doc_id): s for s in rows} for rows in samples]
    common = set(by_run[0])
    union = set(by_run[0])
    for rows in by_run[1:]:
        common &= set(rows)
        union |= set(rows)
    items = sorted(common)
    scores = np.full((len(labels), len(items)), math.nan)
    confidence = np.full((len(labels), len(items)), math.nan)
    for i, rows in enumerate(by_run):
        for j, key in enumerate(items):
            row = rows[key]
            if row.score is not None:
                scores[i, j] = row.score
            if row.confidence is not None:
                confidence[i, j] = row.confidence
    extras = [by_run[0][key].extra for key in items]
    return items, scores, confidence, extras, len(union) - len(common)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def config_differences(labels: list[str], configs: list[dict[str, Any]]) -> list[ConfigDifference]:
    """Every config key, outside the backbone section, whose value is not the same in all runs."""
    flat = [flatten(c) for c in configs]
    keys = sorted(set().union(*flat))
    diffs = []
    for key in keys:
        if key == "backbone" or key.startswith("backbone."):
            continue
        values = {label: f.get(key, "<missing>") for label, f in zip(labels, flat)}
        if len({repr(v) for v in values.values()}) > 1:
            diffs.append(ConfigDifference(key, values))
    return diffs
