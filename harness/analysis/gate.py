"""The competence gate: before any verdict, each run is checked per group against its baselines. A run
that solves none of a group's items, whose accuracy interval reaches down to the majority-answer
baseline, that does not beat its own blind baseline (every image blanked), or that gives one answer to
90% or more of the items is not interpretable there, and every verdict involving it says so, with the
numbers."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from harness.analysis.stats.accuracy import Interval
from harness.analysis.stats.intervals import clopper_pearson, paired_difference

CONSTANT_SHARE = 0.9  # one answer to this share of a group's items or more: a constant predictor
MIN_ITEMS = 20  # groups with fewer items get no verdict


@dataclass(frozen=True)
class Competence:
    """One run on one group: its accuracy, its baselines, and what (if anything) makes it uninterpretable."""

    label: str
    group: str
    items: int
    accuracy: Interval  # Clopper-Pearson
    majority: float | None = None  # majority-answer baseline (exact-match groups)
    blind: float | None = None  # accuracy with every image blanked
    benefit: Interval | None = None  # accuracy - blind accuracy, exact paired interval
    constant: tuple[str, int] | None = None  # (answer, items) when one answer covers >= CONSTANT_SHARE
    problems: tuple[str, ...] = ()  # sentences saying why it is not interpretable

    @property
    def ok(self) -> bool:
        return not self.problems


def normalise(prediction: str) -> str:
    return " ".join(str(prediction).strip().lower().split())


def majority_baseline(targets: list[str], kinds: list[str] | None = None) -> float:
    """Accuracy of answering every item with the most frequent target of its kind (question type):
    ``Σ_kinds max_answer #(kind, answer) / N``; one kind when ``kinds`` is None."""
    kinds = kinds or [""] * len(targets)
    counts: dict[str, Counter] = {}
    for kind, target in zip(kinds, targets):
        counts.setdefault(kind, Counter())[normalise(target)] += 1
    return sum(c.most_common(1)[0][1] for c in counts.values()) / len(targets) if targets else math.nan


def check(label: str, where: str, correct: np.ndarray, predictions: list[str], targets: list[str] | None = None,
          blind_correct: np.ndarray | None = None, kinds: list[str] | None = None, confidence: float = 0.95) -> Competence:
    """The gate for one run on one group (``where`` names the group in sentences: "exists questions").

    ``targets`` (exact-match groups only) give the majority baseline, ``blind_correct`` (None: no blind
    pass) the blind baseline; ``kinds`` the question type of each item for the majority baseline."""
    correct = np.asarray(correct).astype(bool)
    n = int(correct.size)
    accuracy = clopper_pearson(int(correct.sum()), n, confidence)
    problems: list[str] = []
    if n and not correct.any():
        problems.append(f"{label} solves none of the {n} {where}")
    answer, count = Counter(normalise(p) for p in predictions).most_common(1)[0] if predictions else ("", 0)
    constant = (answer, count) if n and count >= CONSTANT_SHARE * n else None
    if constant:
        problems.append(f"{label} answers {answer!r} to {count} of {n} {where}")
    majority = majority_baseline(list(targets), kinds) if targets else None
    if majority is not None and accuracy.low <= majority:
        problems.append(f"{label} is not above the majority-answer baseline on {where} "
                        f"({_iv(accuracy)} against {majority:.3f})")
    blind = benefit = None
    if blind_correct is not None:
        blind_correct = np.asarray(blind_correct).astype(bool)
        blind = float(blind_correct.mean())
        benefit = paired_difference(blind_correct, correct, confidence)
        if benefit.low <= 0:
            problems.append(f"{label} does not beat its blind baseline on {where} (image benefit "
                            f"{_iv(benefit, signed=True)}: {accuracy.value:.3f} with the image, {blind:.3f} without)")
    return Competence(label, where, n, accuracy, majority, blind, benefit, constant, tuple(problems))


def _iv(iv: Interval, signed: bool = False) -> str:
    s = "+" if signed else ""
    return f"{iv.value + 0.0:{s}.3f} [{iv.low + 0.0:{s}.3f}, {iv.high + 0.0:{s}.3f}]"
