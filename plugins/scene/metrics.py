"""Scores for the three scene tasks, as plain functions of (response, annotation).

The lmms-eval task files (``harness_tasks/scene/utils.py``) are thin adapters over these, so the
metrics are testable without lmms-eval and reusable by analyses.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .language import NUMBER_WORDS, parse_description
from .model import Scene

COORDINATE_TOLERANCE = 0.1  # normalised Euclidean distance counted as a hit (a tenth of the image side)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lowercase, first line, no articles or trailing punctuation, number words as digits."""
    text = (text or "").strip().split("\n", 1)[0].lower()
    text = _ARTICLES.sub(" ", text)
    text = re.sub(r"[^\w\s]", " ", text)
    words = [str(NUMBER_WORDS.index(w)) if w in NUMBER_WORDS else w for w in text.split()]
    words = ["colour" if w == "color" else w for w in words]
    return " ".join(words)


def exact_match(response: str, answer: str) -> float:
    return float(normalize_answer(response) == normalize_answer(answer))


def majority_baseline(items: Iterable[Mapping[str, Any]]) -> float:
    """Accuracy of answering every question with the most frequent answer of its type."""
    by_type: dict[str, Counter] = defaultdict(Counter)
    for item in items:
        by_type[item["qtype"]][normalize_answer(item["answer"])] += 1
    total = sum(sum(c.values()) for c in by_type.values())
    if total == 0:
        return float("nan")
    return sum(c.most_common(1)[0][1] for c in by_type.values()) / total


def mean_score(items: Iterable[Mapping[str, Any]], qtype: str | None = None) -> float:
    """Mean of ``score`` over items (of one ``qtype`` when given); NaN when there are none."""
    scores = [i["score"] for i in items if qtype is None or i["qtype"] == qtype]
    return sum(scores) / len(scores) if scores else float("nan")


# --- scene description ------------------------------------------------------------------------

def description_facts(objects: Iterable[Mapping[str, Any]]) -> Counter:
    """Facts a description states: each object's colour+shape, and its size and region when given."""
    facts: Counter = Counter()
    for o in objects:
        name = f"{o['colour']} {o['shape']}"
        facts[("object", name)] += 1
        if o.get("size"):
            facts[("size", name, o["size"])] += 1
        if o.get("region"):
            facts[("region", name, o["region"])] += 1
    return facts


def annotation_facts(scene: Scene) -> Counter:
    return description_facts(
        {"colour": o.colour, "shape": o.shape, "size": o.size, "region": o.region} for o in scene.objects)


def attribute_counts(description: str, scene: Scene) -> dict[str, int]:
    """True positives, predicted and gold fact counts of one description against the annotation."""
    predicted = description_facts(parse_description(description))
    gold = annotation_facts(scene)
    return {"tp": sum((predicted & gold).values()), "pred": sum(predicted.values()), "gold": sum(gold.values())}


def micro_f1(counts: Iterable[Mapping[str, int]]) -> dict[str, float]:
    """Micro precision, recall and F1 over per-description fact counts."""
    tp = pred = gold = 0
    for c in counts:
        tp, pred, gold = tp + c["tp"], pred + c["pred"], gold + c["gold"]
    precision = tp / pred if pred else 0.0
    recall = tp / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _tokens(text: str) -> str:
    # PTBTokenizer needs Java; for our fixed vocabulary lowercasing and splitting off punctuation is equivalent
    return " ".join(re.findall(r"[a-z0-9]+", (text or "").lower()))


def cider(references: Sequence[str], candidates: Sequence[str]) -> float:
    """Corpus CIDEr-D (pycocoevalcap) of candidates against one reference each."""
    from pycocoevalcap.cider.cider import Cider

    if not candidates:
        return float("nan")
    gts = {i: [_tokens(r)] for i, r in enumerate(references)}
    res = {i: [_tokens(c)] for i, c in enumerate(candidates)}
    score, _ = Cider().compute_score(gts, res)
    return float(score)


def bleu4(references: Sequence[str], candidates: Sequence[str]) -> float:
    """Corpus BLEU-4 (pycocoevalcap)."""
    from pycocoevalcap.bleu.bleu import Bleu

    if not candidates:
        return float("nan")
    gts = {i: [_tokens(r)] for i, r in enumerate(references)}
    res = {i: [_tokens(c) or "empty"] for i, c in enumerate(candidates)}  # Bleu rejects empty hypotheses
    scores, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return float(scores[3])


# --- coordinates ------------------------------------------------------------------------------

def parse_coordinates(response: str) -> tuple[float, float] | None:
    """(x, y) when the response is a JSON object with numeric x and y (code fences allowed), else None."""
    text = (response or "").strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, flags=re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    x, y = data.get("x"), data.get("y")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (x, y)):
        return None
    return float(x), float(y)


def coordinate_score(response: str, answer: str, tolerance: float = COORDINATE_TOLERANCE) -> dict[str, Any]:
    """valid (0/1), hit (0/1: valid and within tolerance) and distance (None when invalid)."""
    target = json.loads(answer)
    point = parse_coordinates(response)
    if point is None:
        return {"valid": 0.0, "hit": 0.0, "distance": None}
    distance = math.dist(point, (target["x"], target["y"]))
    return {"valid": 1.0, "hit": float(distance <= tolerance), "distance": distance}


def mean_distance(items: Iterable[Mapping[str, Any]]) -> float:
    """Mean distance over valid predictions; NaN when none was valid."""
    values = [i["distance"] for i in items if i["distance"] is not None]
    return sum(values) / len(values) if values else float("nan")
