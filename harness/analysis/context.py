"""The runs being compared, loaded once from the results store and aligned item by item.

Analyses receive a :class:`CompareContext`: per-item correctness, scores, confidences, answers and
blind-baseline scores as (backbones x items) arrays over the items every run evaluated, the seed
replicates of each backbone, capability groups, metrics, the competence gate, and the
controlled-comparison verdict. Third-party analyses import it from :mod:`harness.analysis`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis.gate import Competence, check
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
    """Everything the analyses read. Row ``i`` of every array belongs to ``labels[i]``; ``runs[i]`` is the
    backbone's newest run and ``replicates[i]`` the scores of every seed of its cell (row 0: that run)."""

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
    predictions: list[list[str]] = field(default_factory=list)  # per backbone, per item: the answer
    targets: list[str] = field(default_factory=list)  # per item
    blind: np.ndarray | None = None  # backbones x items, the blind pass's scores; nan where a run has none
    replicates: list[np.ndarray] = field(default_factory=list)  # per backbone: seeds x items scores
    replicate_runs: list[list[RunRecord]] = field(default_factory=list)  # per backbone, newest first
    sample_metrics: list[dict[str, np.ndarray]] = field(default_factory=list)  # per backbone: metric -> per-item values
    differences: list[ConfigDifference] = field(default_factory=list)
    uncontrolled: bool = False
    dropped_items: int = 0  # items not evaluated by every run, left out of the item-level analyses
    out_dir: Path | None = None  # where plots go; None: no plots
    n_resamples: int = 2000
    seed: int = 0
    alpha: float = 0.05
    _bootstrap_cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _gate_cache: dict[tuple[int, str], Competence] = field(default_factory=dict, repr=False)
    _groups: dict[str, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.replicates:
            self.replicates = [self.scores[i][None, :] for i in range(len(self.labels))]
        if not self.replicate_runs:
            self.replicate_runs = [[run] for run in self.runs]

    @property
    def correct(self) -> np.ndarray:
        """Backbones x items, True where the item is solved (score >= SOLVED_AT)."""
        return solved(self.scores)

    @property
    def binary(self) -> bool:
        """Every score is 0 or 1 (exact match): the majority-answer baseline applies."""
        values = self.scores[~np.isnan(self.scores)]
        return bool(values.size) and bool(np.all((values == 0) | (values == 1)))

    def replicate_correct(self, i: int) -> np.ndarray:
        """Seeds x items, solved or not, for backbone ``i`` (one row without replicates)."""
        return solved(self.replicates[i])

    def n_replicates(self, i: int) -> int:
        return len(self.replicates[i])

    def blind_correct(self, i: int) -> np.ndarray | None:
        """Items solved by backbone ``i`` with every image blanked; None when its run has no blind pass."""
        if self.blind is None or np.isnan(self.blind[i]).any():
            return None
        return solved(self.blind[i])

    def competence(self, i: int, group: str = "all") -> Competence:
        """The competence gate of backbone ``i`` on ``group`` (cached)."""
        key = (i, group)
        if key not in self._gate_cache:
            mask = self.groups()[group]
            blind = self.blind_correct(i)
            kinds = [str(group_value(e, "qtype")) for e, m in zip(self.extras, mask) if m]
            self._gate_cache[key] = check(
                self.labels[i], self.group_text(group), self.correct[i, mask],
                [p for p, m in zip(self.predictions[i], mask) if m] if self.predictions else [],
                [t for t, m in zip(self.targets, mask) if m] if self.binary and self.targets else None,
                None if blind is None else blind[mask], kinds, 1 - self.alpha)
        return self._gate_cache[key]

    def group_text(self, group: str) -> str:
        """The group as sentences name it: "exists questions", "vqa_scene items"."""
        if group == "all":
            return f"{self.task} items"
        key, _, value = group.partition("=")
        return f"{value} questions" if key == "qtype" else f"{group} items"

    def by_generation(self) -> list[int]:
        """Backbone indices, oldest generation first (unknown generations last, then by label)."""
        return sorted(range(len(self.labels)), key=lambda i: (self.generations[i] is None, self.generations[i] or 0,
                                                              self.labels[i]))

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
        if min_items == 1 and self._groups is not None:
            return self._groups
        groups = {"all": np.ones(self.n_items, dtype=bool)}
        for key in GROUP_KEYS:
            values = [group_value(e, key) for e in self.extras]
            for value in sorted({str(v) for v in values if v is not None}):
                mask = np.array([v is not None and str(v) == value for v in values])
                if mask.sum() >= min_items:
                    groups[f"{key}={value}"] = mask
        if min_items == 1:
            self._groups = groups
        return groups

    def group_label(self, name: str) -> str:
        if name == "all" and self.task_tags:
            return f"all ({', '.join(self.task_tags)})"
        return name

    def has_confidence(self) -> list[bool]:
        return [bool(np.all(~np.isnan(row))) for row in self.confidence]

    def bootstrap(self, group: str = "all"):
        """The paired bootstrap of accuracy for a group (cached: several analyses read it)."""
        from harness.analysis.stats.accuracy import paired_bootstrap

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


def solved(scores: np.ndarray) -> np.ndarray:
    """True where a score reaches SOLVED_AT (nan: not solved)."""
    return np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0) >= SOLVED_AT


def group_value(extra: dict[str, Any], key: str) -> Any:
    """The item's value for a group key, from the sample extra or the document it was built from."""
    if extra.get(key) is not None:
        return extra[key]
    doc = extra.get("doc")
    return doc.get(key) if isinstance(doc, dict) else None


@dataclass
class Aligned:
    """Samples of several runs on the items every run evaluated, in a fixed order (row i: run i)."""

    items: list[tuple[str, int]]
    scores: np.ndarray
    confidence: np.ndarray
    predictions: list[list[str]]
    targets: list[str]
    extras: list[dict[str, Any]]
    dropped: int  # items evaluated by only some runs
    sample_metrics: list[dict[str, np.ndarray]] = field(default_factory=list)  # per run: metric -> per-item values


def align_samples(samples: list[list[SampleRow]]) -> Aligned:
    """Items evaluated by every run, in a fixed order, with each run's score, confidence and answer."""
    by_run = [{(s.task, s.doc_id): s for s in rows} for rows in samples]
    common, union = set(by_run[0]), set(by_run[0])
    for rows in by_run[1:]:
        common &= set(rows)
        union |= set(rows)
    items = sorted(common)
    scores = scores_on(items, samples)
    confidence = np.full(scores.shape, math.nan)
    for i, rows in enumerate(by_run):
        for j, key in enumerate(items):
            if rows[key].confidence is not None:
                confidence[i, j] = rows[key].confidence
    metrics = []
    for rows in by_run:  # the per-sample metrics every item of the run has
        values = [rows[key].extra.get("metrics", {}) for key in items]
        names = set.intersection(*(set(v) for v in values)) if values else set()
        metrics.append({name: np.array([float(v[name]) for v in values]) for name in sorted(names)})
    return Aligned(items, scores, confidence, [[rows[key].prediction for key in items] for rows in by_run],
                   [by_run[0][key].target for key in items], [by_run[0][key].extra for key in items],
                   len(union) - len(common), metrics)


def scores_on(items: list[tuple[str, int]], samples: list[list[SampleRow]]) -> np.ndarray:
    """Runs x items scores on ``items`` (nan where a run has no score for an item)."""
    out = np.full((len(samples), len(items)), math.nan)
    for i, rows in enumerate(samples):
        by_key = {(s.task, s.doc_id): s.score for s in rows}
        for j, key in enumerate(items):
            value = by_key.get(key)
            if value is not None:
                out[i, j] = value
    return out


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
