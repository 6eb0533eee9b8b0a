"""Scores for the two seismic tasks, as plain functions of (response, annotation).

Structure-level F1 counts the facts of :func:`.language.description_facts` that a description shares
with the annotation; the aggregation (micro F1), the caption metrics (pycocoevalcap CIDEr-D and BLEU-4)
and the coordinate scores (valid JSON, hit within tolerance, distance) are the scene world's own, in
:mod:`harness_plugins.scene.metrics`, re-exported here so both domains score alike.
"""
from __future__ import annotations

from harness_plugins.scene.metrics import (
    COORDINATE_TOLERANCE,
    bleu4,
    cider,
    coordinate_score,
    mean_distance,
    micro_f1,
    parse_coordinates,
)

from .language import annotation_facts, description_facts, parse_description
from .model import Section

__all__ = ["COORDINATE_TOLERANCE", "bleu4", "cider", "coordinate_score", "mean_distance", "micro_f1",
           "parse_coordinates", "structure_counts", "structure_f1"]


def structure_counts(description: str, section: Section) -> dict[str, int]:
    """True positives, predicted and gold structure facts of one description against the annotation."""
    predicted = description_facts(parse_description(description))
    gold = annotation_facts(section)
    return {"tp": sum((predicted & gold).values()), "pred": sum(predicted.values()), "gold": sum(gold.values())}


def structure_f1(description: str, section: Section) -> float:
    """F1 of one description's structure facts (1.0 for the reference description)."""
    return micro_f1([structure_counts(description, section)])["f1"]
