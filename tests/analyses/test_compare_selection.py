"""Choosing the runs to compare, and the one-line refusals of bad input."""
import pytest

from harness.errors import HarnessError
from harness.store import open_store
from harness_plugins.analyses.selection import build_context, select_runs
from storefill import add_run


def test_the_latest_finished_run_per_backbone_is_compared(store_file):
    add_run(store_file, "llama1", [0, 0], run_id="old", finished="2026-01-01T00:00:00")
    add_run(store_file, "llama1", [1, 1], run_id="new", finished="2026-02-01T00:00:00")
    add_run(store_file, "llama3", [1, 0], run_id="l3", finished="2026-01-15T00:00:00")
    with open_store(store_file) as store:
        assert sorted(r.run_id for r in select_runs(store, "vqa_scene")) == ["l3", "new"]


def test_a_backbone_not_in_the_store_is_named_with_a_suggestion(store_file):
    add_run(store_file, "llama1", [0, 1])
    with open_store(store_file) as store, pytest.raises(HarnessError, match=r"'llama4'.*did you mean 'llama1'"):
        select_runs(store, "vqa_scene", ["llama4"])


def test_fewer_than_two_runs_cannot_be_compared(store_file):
    add_run(store_file, "llama1", [0, 1])
    with open_store(store_file) as store, pytest.raises(HarnessError, match="at least two comparable runs, found 1"):
        build_context(store, select_runs(store, "vqa_scene"))


def test_runs_of_different_tasks_are_refused(store_file):
    add_run(store_file, "llama1", [0, 1], run_id="a")
    add_run(store_file, "llama2", [0, 1], run_id="b", task="coordinate_prediction")
    with open_store(store_file) as store, pytest.raises(HarnessError, match="runs of different tasks"):
        select_runs(store, None, run_ids=["a", "b"])


def test_a_task_without_runs_is_refused(store_file):
    add_run(store_file, "llama1", [0, 1])
    with open_store(store_file) as store, pytest.raises(HarnessError, match="no finished runs of task 'vqa_scen'.*vqa_scene"):
        select_runs(store, "vqa_scen")


def test_only_items_every_run_evaluated_are_compared(store_file):
    add_run(store_file, "llama1", [0, 1, 1, 0])
    add_run(store_file, "llama2", [1, 1])
    with open_store(store_file) as store:
        ctx = build_context(store, select_runs(store, "vqa_scene"))
    assert ctx.n_items == 2 and ctx.dropped_items == 2
