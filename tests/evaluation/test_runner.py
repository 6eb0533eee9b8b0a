"""evaluate(): lmms-eval's own evaluator in-process, the store's records back, nothing partial on errors."""
from __future__ import annotations

import json
import math

import pytest

from harness.errors import HarnessError
from harness.store.records import MetricRow, SampleRow
from harness.evaluation.runner import evaluate
from harness.evaluation.sidecar import read_hidden_states


@pytest.fixture(scope="module")
def first_run(tiny_checkpoint, tiny_tasks, tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    result = evaluate(tiny_checkpoint, ["toy_colour"], str(tiny_tasks), root / "out", batch_size=4, limit=8,
                      save_hidden_states=True, cache_dir=root / "cache")
    return root, result


def test_returns_metric_rows_with_one_primary(first_run):
    _, result = first_run
    assert all(isinstance(m, MetricRow) for m in result.metrics)
    primary = [m for m in result.metrics if m.primary]
    assert [m.metric for m in primary] == ["exact_match"]
    assert primary[0].higher_is_better and 0.0 <= primary[0].value <= 1.0 and primary[0].stderr is not None


def test_returns_one_sample_row_per_doc_with_confidence(first_run):
    _, result = first_run
    assert [s.doc_id for s in result.samples] == list(range(8))
    for row in result.samples:
        assert isinstance(row, SampleRow) and row.task == "toy_colour"
        assert row.target in {"red", "green", "blue", "yellow"}
        assert row.score in (0.0, 1.0)
        assert 0.0 < row.confidence <= 1.0 and row.confidence == row.extra["sequence_prob"]
        assert 0.0 < row.extra["first_token_prob"] <= 1.0
        assert row.extra["doc"]["qtype"] == "colour"


def test_writes_lmms_eval_results_and_samples_beside_hidden_states(first_run):
    _, result = first_run
    results = json.loads(result.results_json.read_text())
    assert results["results"]["toy_colour"]["exact_match,none"] == next(m.value for m in result.metrics if m.primary)
    logged = [json.loads(line) for line in result.samples_jsonl["toy_colour"].read_text().splitlines()]
    assert [s["doc_id"] for s in logged] == list(range(8))
    assert [s["filtered_resps"] if isinstance(s["filtered_resps"], str) else s["filtered_resps"][0] for s in logged] == \
        [r.prediction for r in result.samples]
    hidden = read_hidden_states(result.hidden_states["toy_colour"])
    assert sorted(hidden) == list(range(8)) and hidden[0].shape == (3, 32)


def test_second_run_is_served_by_the_cache_with_equal_results(first_run, tiny_checkpoint, tiny_tasks):
    root, first = first_run
    again = evaluate(tiny_checkpoint, ["toy_colour"], str(tiny_tasks), root / "again", batch_size=2, limit=8,
                     save_hidden_states=True, cache_dir=root / "cache")
    assert again.computed == 0 and again.cache_hits == 8
    assert [(s.prediction, s.confidence) for s in again.samples] == [(s.prediction, s.confidence) for s in first.samples]
    assert [(m.metric, m.value) for m in again.metrics] == [(m.metric, m.value) for m in first.metrics]


def test_cached_answers_without_hidden_states_are_recomputed_and_not_counted_as_cached(tiny_checkpoint, tiny_tasks,
                                                                                      tmp_path):
    plain = evaluate(tiny_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "plain", batch_size=4, limit=4,
                     cache_dir=tmp_path / "cache")
    assert plain.computed == 4 and plain.cache_hits == 0
    with_states = evaluate(tiny_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "states", batch_size=4, limit=4,
                           save_hidden_states=True, cache_dir=tmp_path / "cache")
    assert with_states.computed == 4 and with_states.cache_hits == 0


def test_batch_size_does_not_change_the_answers(first_run, tiny_checkpoint, tiny_tasks, tmp_path):
    _, first = first_run
    single = evaluate(tiny_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "b1", batch_size=1, limit=8)
    assert single.computed == 8
    assert [s.prediction for s in single.samples] == [s.prediction for s in first.samples]


def test_multiple_choice_predicts_the_most_likely_choice(tiny_checkpoint, tiny_tasks, tmp_path):
    result = evaluate(tiny_checkpoint, ["toy_colour_mc"], str(tiny_tasks), tmp_path / "mc", batch_size=4)
    assert [m.metric for m in result.metrics if m.primary] == ["acc"]
    for row in result.samples:
        lls = row.extra["choice_loglikelihoods"]
        choices = ["red", "green", "blue", "yellow"]
        assert row.prediction == choices[lls.index(max(lls))]
        assert row.confidence == pytest.approx(math.exp(max(lls)) / sum(math.exp(x) for x in lls))
        assert row.score == float(row.prediction == row.target)


@pytest.mark.parametrize("limit", [0, -3])
def test_limit_below_one_is_refused_before_anything_is_written(tiny_checkpoint, tiny_tasks, tmp_path, limit):
    with pytest.raises(HarnessError, match=f"eval.limit={limit}"):
        evaluate(tiny_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "out", limit=limit)
    assert list(tmp_path.iterdir()) == []


def test_not_a_checkpoint_is_refused_before_anything_is_written(tmp_path, tiny_tasks):
    (tmp_path / "ckpt").mkdir()
    with pytest.raises(HarnessError, match="not a LLaVA checkpoint"):
        evaluate(tmp_path / "ckpt", ["toy_colour"], str(tiny_tasks), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_task_without_its_data_says_where_to_put_it(tiny_checkpoint, tiny_tasks, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(HarnessError, match=f"toy_colour needs its data at {missing}") as err:
        evaluate(tiny_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "out",
                 task_overrides={"toy_colour": {"dataset_path": str(missing)}},
                 data_hints={"toy_colour": "run `harness data build` first"})
    assert "harness data build" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_unknown_task_suggests_the_close_name(tiny_checkpoint, tiny_tasks, tmp_path):
    with pytest.raises(HarnessError, match="did you mean 'toy_colour'"):
        evaluate(tiny_checkpoint, ["toy_color"], str(tiny_tasks), tmp_path / "out")
