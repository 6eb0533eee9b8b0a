"""Turn lmms-eval's results and samples (plus the harness model's records) into store records."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness.store.records import MetricRow, SampleRow

SKIPPED_SUFFIXES = ("_stderr_clt", "_stderr_clustered")


def metric_rows(results: dict[str, Any], task: str, primary: str | None) -> list[MetricRow]:
    """Every numeric metric lmms-eval reported for ``task`` (``metric,filter`` keys), stderr attached."""
    section = results["results"].get(task, {})
    better = results.get("higher_is_better", {}).get(task, {})
    rows: list[MetricRow] = []
    for key, value in section.items():
        if "," not in key:
            continue  # "alias" and the like
        metric, filt = key.split(",", 1)
        if "_stderr" in metric or not _is_number(value):
            continue  # also NaN: a metric over no items (e.g. a question type absent from a --limit subset)
        stderr = section.get(f"{metric}_stderr,{filt}")
        stderr = float(stderr) if isinstance(stderr, (int, float)) and math.isfinite(stderr) else None
        name = metric if filt == "none" else f"{metric}/{filt}"
        rows.append(MetricRow(task=task, metric=name, value=float(value), stderr=stderr,
                              higher_is_better=bool(better.get(metric, True))))
    if rows:
        chosen = primary if primary in {r.metric for r in rows} else _first_listed_metric(results, task, rows)
        for row in rows:
            row.primary = row.metric == chosen
    return rows


def fill_mean_stderr(rows: list[MetricRow], samples: list[SampleRow]) -> None:
    """Standard error of the mean for metrics lmms-eval left without one (custom aggregations),
    where the metric is the plain mean of its per-sample scores: ``std(scores, ddof=1) / sqrt(n)``."""
    for row in rows:
        if row.stderr is not None:
            continue
        scores = [s.extra["metrics"][row.metric] for s in samples if row.metric in s.extra.get("metrics", {})]
        scores = [float(x) for x in scores if isinstance(x, (int, float)) and math.isfinite(x)]
        if len(scores) < 2 or len(scores) != len(samples):
            continue
        mean = sum(scores) / len(scores)
        if abs(mean - row.value) > 1e-9:
            continue  # not the mean of its sample scores (e.g. per-type metrics, baselines): no stderr claimed
        variance = sum((x - mean) ** 2 for x in scores) / (len(scores) - 1)
        row.stderr = math.sqrt(variance / len(scores))


def _first_listed_metric(results: dict[str, Any], task: str, rows: list[MetricRow]) -> str:
    names = {r.metric for r in rows}
    for entry in results.get("configs", {}).get(task, {}).get("metric_list", []) or []:
        if isinstance(entry, dict) and entry.get("metric") in names:
            return entry["metric"]
    return rows[0].metric


def sample_rows(task: str, samples: list[dict[str, Any]], primary: str | None, records: dict[int, dict[str, Any]],
                choices: dict[int, dict[int, tuple[str, float]]], docs: Any | None) -> list[SampleRow]:
    """One row per doc: the prediction, target, per-sample primary score, confidence and extras."""
    rows = []
    for sample in samples:
        doc_id = int(sample["doc_id"])
        record = records.get(doc_id, {})
        extra: dict[str, Any] = {}
        prediction, confidence = _prediction(sample, record, choices.get(doc_id), extra)
        scores = {k: s for k, s in ((k, _sample_score(v)) for k, v in sample.items() if k not in _SAMPLE_FIELDS)
                  if s is not None}
        score = scores.get(primary) if primary in scores else (next(iter(scores.values())) if scores else None)
        extra["metrics"] = scores
        if docs is not None:
            extra["doc"] = _scalar_fields(docs[doc_id])
        rows.append(SampleRow(task=task, doc_id=doc_id, prediction=prediction, target=_text(sample.get("target")),
                              score=None if score is None else float(score), confidence=confidence, extra=extra))
    return rows


_SAMPLE_FIELDS = {"doc_id", "target", "filtered_resps", "resps", "token_counts", "doc_hash", "input", "arguments", "doc"}


def _prediction(sample: dict, record: dict, choice_lls: dict[int, tuple[str, float]] | None, extra: dict) -> tuple[str, float | None]:
    if choice_lls and len(choice_lls) == 1:
        (continuation, ll), = choice_lls.values()
        extra["loglikelihood"] = ll
        return continuation.strip(), math.exp(ll)
    if choice_lls:
        # Multiple choice: the prediction is the most likely choice, its confidence the softmax over choices.
        order = sorted(choice_lls)
        lls = [choice_lls[i][1] for i in order]
        top = max(lls)
        weights = [math.exp(ll - top) for ll in lls]
        best = lls.index(top)
        extra["choice_loglikelihoods"] = lls
        return choice_lls[order[best]][0].strip(), weights[best] / sum(weights)
    if record:
        extra.update({k: record[k] for k in ("first_token_prob", "sequence_prob", "num_tokens") if k in record})
        return record.get("text", ""), record.get("sequence_prob")
    resp = sample.get("filtered_resps")
    while isinstance(resp, list) and resp:
        resp = resp[0]
    return _text(resp), None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 1:
        return _text(value[0])
    return json.dumps(value, default=str)


def _sample_score(value: Any) -> float | None:
    """A per-sample metric value: a number, or the ``score`` of the item dict an aggregation consumes."""
    if isinstance(value, dict):
        value = value.get("score")
    return float(value) if _is_number(value) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _scalar_fields(doc: dict) -> dict[str, Any]:
    """The doc's small scalar fields (question type, ids...): what analyses group samples by."""
    return {k: v for k, v in doc.items()
            if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= 200)}


def read_samples(path: Path) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
