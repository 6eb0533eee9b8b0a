"""Leaderboard rendering from rows inserted through the store's public API."""
import csv
import io
import json

from rich.console import Console

from harness.leaderboard import build_leaderboard, print_table, render
from harness.store import MetricRow, RunRecord, open_store


def add(store, run_id, backbone, task, value, stderr=0.01, controlled="c0", higher=True):
    store.add_run(
        RunRecord(run_id, task, backbone, "tiny", "clip", "llava15", {}, f"r{run_id}", f"t{backbone}", controlled),
        [MetricRow(task, "score", value, stderr, higher_is_better=higher, primary=True),
         MetricRow(task, "other", 0.0)])


def test_cells_hold_the_latest_run_and_the_best_is_marked(tmp_path):
    with open_store(tmp_path / "r.sqlite") as store:
        add(store, "old", "llama3", "vqa_scene", 0.10)
        add(store, "a", "llama1", "vqa_scene", 0.40)
        add(store, "b", "llama2", "vqa_scene", 0.45)
        add(store, "c", "llama3", "vqa_scene", 0.62)
        board = build_leaderboard(store, highlight="c")
    cell = board.cells[("llama3 (tiny)", "vqa_scene")]
    assert cell.run_id == "c" and cell.best and cell.highlighted
    assert not board.cells[("llama1 (tiny)", "vqa_scene")].best
    assert board.backbones == ["llama1 (tiny)", "llama2 (tiny)", "llama3 (tiny)"]


def test_lower_is_better_metrics_mark_the_minimum(tmp_path):
    with open_store(tmp_path / "r.sqlite") as store:
        add(store, "a", "llama1", "coords", 3.0, higher=False)
        add(store, "b", "llama3", "coords", 1.0, higher=False)
        board = build_leaderboard(store)
    assert board.cells[("llama3 (tiny)", "coords")].best


def test_runs_breaking_the_controlled_contract_are_marked_and_not_ranked(tmp_path):
    with open_store(tmp_path / "r.sqlite") as store:
        add(store, "a", "llama1", "vqa_scene", 0.40)
        add(store, "b", "llama2", "vqa_scene", 0.45)
        add(store, "c", "llama3", "vqa_scene", 0.99, controlled="other-data")
        board = build_leaderboard(store)
    odd = board.cells[("llama3 (tiny)", "vqa_scene")]
    assert odd.uncontrolled and not odd.best
    assert board.cells[("llama2 (tiny)", "vqa_scene")].best
    assert "†" in render(board, "markdown")


def test_every_format_renders_the_same_cells(tmp_path):
    with open_store(tmp_path / "r.sqlite") as store:
        add(store, "a", "llama1", "vqa_scene", 0.40, stderr=0.02)
        add(store, "b", "llama3", "scene_description", 0.70, stderr=None)
        board = build_leaderboard(store)
    rows = list(csv.reader(io.StringIO(render(board, "csv"))))
    assert rows[0] == ["backbone", "scene_description (score)", "vqa_scene (score)"]
    assert rows[1] == ["llama1 (tiny)", "", "0.4000 ± 0.0200"]
    data = json.loads(render(board, "json"))
    assert {(c["backbone"], c["task"], c["value"]) for c in data["cells"]} == {
        ("llama1 (tiny)", "vqa_scene", 0.4), ("llama3 (tiny)", "scene_description", 0.7)}
    assert "| llama3 (tiny) | 0.7000 |  |" in render(board, "markdown")
    console = Console(file=io.StringIO(), width=120)
    print_table(board, console)
    assert "0.4000 ± 0.0200" in console.file.getvalue()


def test_the_run_just_made_is_marked_in_plain_text_and_footnotes_explain_only_marks_shown(tmp_path):
    with open_store(tmp_path / "r.sqlite") as store:
        add(store, "a", "llama1", "vqa_scene", 0.40)
        add(store, "b", "llama3", "vqa_scene", 0.62)
        board = build_leaderboard(store, highlight="b")
        alone = build_leaderboard(store, task="vqa_scene", highlight="b")
        add(store, "c", "llama2", "coords", 1.0, stderr=None)
        single = build_leaderboard(store, task="coords", highlight="c")
    console = Console(file=io.StringIO(), width=120, color_system=None)  # as when piped: no reverse video
    print_table(board, console)
    text = console.file.getvalue()
    assert "▶ llama3 (tiny)" in text and "▶ made by this command" in text and "* best comparable" in text
    assert "▶ llama1" not in text
    console = Console(file=io.StringIO(), width=120, color_system=None)
    print_table(single, console)  # one row, no stderr, nothing ranked: no marks and no notes for them
    text = console.file.getvalue()
    assert "▶" not in text and "*" not in text and "±" not in text
    assert alone.cells[("llama3 (tiny)", "vqa_scene")].highlighted
    sweep = build_leaderboard_of(tmp_path, highlight=["a", "b"])
    assert all(c.highlighted for c in sweep.cells.values() if c.run_id in ("a", "b"))


def build_leaderboard_of(tmp_path, **kwargs):
    with open_store(tmp_path / "r.sqlite") as store:
        return build_leaderboard(store, **kwargs)
