"""lmms-eval's results and samples become the store's MetricRow / SampleRow records."""
from __future__ import annotations

from harness.evaluation.results import metric_rows, sample_rows

RESULTS = {
    "results": {"vqa": {"alias": "vqa", "exact_match,none": 0.5, "exact_match_stderr,none": 0.1,
                        "exact_match_stderr_clt,none": 0.1, "majority_baseline,none": 0.25,
                        "majority_baseline_stderr,none": "N/A", "em_colour,none": 0.75}},
    "higher_is_better": {"vqa": {"exact_match": True, "majority_baseline": True, "em_colour": True}},
    "configs": {"vqa": {"metric_list": [{"metric": "exact_match"}, {"metric": "majority_baseline"}]}},
}


def test_every_numeric_metric_becomes_a_row_with_its_stderr():
    rows = {r.metric: r for r in metric_rows(RESULTS, "vqa", "exact_match")}
    assert set(rows) == {"exact_match", "majority_baseline", "em_colour"}
    assert rows["exact_match"].stderr == 0.1 and rows["majority_baseline"].stderr is None
    assert [r.metric for r in rows.values() if r.primary] == ["exact_match"]


def test_a_metric_over_no_items_is_left_out():
    results = {**RESULTS, "results": {"vqa": {**RESULTS["results"]["vqa"], "em_count,none": float("nan")}}}
    assert "em_count" not in {r.metric for r in metric_rows(results, "vqa", "exact_match")}


def test_primary_defaults_to_the_first_listed_metric():
    rows = metric_rows(RESULTS, "vqa", None)
    assert [r.metric for r in rows if r.primary] == ["exact_match"]


def test_item_dict_sample_metrics_give_their_score():
    item = {"qtype": "colour", "answer": "red", "prediction": "red", "score": 1.0}
    samples = [{"doc_id": 0, "target": "red", "filtered_resps": ["red"], "exact_match": item, "em_colour": item}]
    records = {0: {"text": "red", "first_token_prob": 0.9, "sequence_prob": 0.8, "num_tokens": 1}}
    row = sample_rows("vqa", samples, "exact_match", records, {}, [{"qtype": "colour", "image": object()}])[0]
    assert (row.prediction, row.target, row.score, row.confidence) == ("red", "red", 1.0, 0.8)
    assert row.extra["doc"] == {"qtype": "colour"} and row.extra["first_token_prob"] == 0.9


def test_stderr_is_filled_only_for_metrics_that_are_the_mean_of_their_sample_scores():
    import math

    from harness.evaluation.results import fill_mean_stderr
    from harness.store.records import MetricRow, SampleRow

    scores = [1.0, 0.0, 1.0, 1.0]
    samples = [SampleRow(task="t", doc_id=i, prediction="", target="", score=s, confidence=None,
                         extra={"metrics": {"em": s, "baseline": s}}) for i, s in enumerate(scores)]
    rows = [MetricRow(task="t", metric="em", value=0.75, stderr=None),
            MetricRow(task="t", metric="baseline", value=0.5, stderr=None),  # not the mean of its scores
            MetricRow(task="t", metric="f1", value=0.3, stderr=0.1)]
    fill_mean_stderr(rows, samples)
    assert math.isclose(rows[0].stderr, math.sqrt(0.25 / 4))  # sample variance 0.25, n = 4
    assert rows[1].stderr is None and rows[2].stderr == 0.1
