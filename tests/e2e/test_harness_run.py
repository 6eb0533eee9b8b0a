"""`harness run` end to end on the embedded default, in fresh interpreters, as a user runs it:
scene data built on first use, the organisms trained with the real DeepSpeed recipe (few steps),
evaluated through lmms-eval, stored, shown; then reuse, sweeps, a failing cell and `harness compare`.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from clirunner import run_cli

pytestmark = pytest.mark.slow

# Few optimizer steps: the test is about the pipeline, not the model (the default run is measured
# by benchmarks and reported in the README).
QUICK = ["recipe.align.max_steps=3", "recipe.finetune.max_steps=3", "eval.limit=24", "eval.batch_size=8"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e") / "home"


def _rows(home, sql, *args):
    with sqlite3.connect(home / "results.sqlite") as db:
        return db.execute(sql, args).fetchall()


def test_first_run_trains_evaluates_stores_and_prints_the_leaderboard(home):
    done = run_cli(["run", "task=vqa", "backbone=llama3", *QUICK], home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Leaderboard" in done.stdout and "llama3 (tiny)" in done.stdout
    assert "majority_baseline" in done.stdout  # the baseline beside the score, in the run report
    # library chatter stays off the terminal: DeepSpeed's CPU op build, torch's CUDA_HOME warning, lmms-eval DEBUG
    assert "built successfully" not in done.stdout and "No CUDA runtime" not in done.stderr
    assert "| DEBUG |" not in done.stderr and "Traceback" not in done.stderr
    (run_id, run_dir, versions, timings), = _rows(home, "select run_id, run_dir, versions_json, timings_json from runs")
    timings = json.loads(timings)
    assert timings["train_s"] > 0 and timings["align_tokens_per_s"] > 0 and timings["finetune_tokens_per_s"] > 0
    metrics = dict(_rows(home, "select metric, value from metrics where run_id = ?", run_id))
    assert {"exact_match", "majority_baseline", "em_perception", "em_reasoning"} <= set(metrics)
    assert 0.0 <= metrics["exact_match"] <= 1.0
    (n,), = _rows(home, "select count(*) from samples where run_id = ? and task = 'vqa_scene' and confidence is not null",
                  run_id)
    assert n == 24
    tasks = {t for t, in _rows(home, "select distinct task from samples where run_id = ?", run_id)}
    assert tasks == {"vqa_scene", "vqa_scene@blind", "vqa_scene_pixel_noise", "vqa_scene_paraphrase"}  # the defaults
    assert json.loads(versions)["attention"].startswith("sdpa")  # auto on the CPU: SDPA, with its reason
    files = {p.name for p in (Path(run_dir) / "eval").iterdir()}
    assert any(f.endswith("_results.json") for f in files) and "samples_vqa_scene" in " ".join(files)


def test_second_run_reuses_the_checkpoint(home):
    done = run_cli(["run", "task=vqa", "backbone=llama3", *QUICK], home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "reusing the checkpoint" in done.stdout and "checkpoint reused" in done.stdout
    assert len(_rows(home, "select run_id from runs")) == 2


def test_a_failing_cell_is_reported_and_the_others_still_run(home):
    before = len(_rows(home, "select run_id from runs"))
    done = run_cli(["run", "-m", "task=vqa", "backbone=llama3", "backbone.variant=8b,tiny", *QUICK], home=home)
    assert done.returncode == 2
    assert "1 of 2 cells failed" in done.stderr and "8b" in done.stderr and "Traceback" not in done.stderr
    assert len(_rows(home, "select run_id from runs")) == before + 1  # the tiny cell ran and was stored
    run_dirs = {p.name for p in (home / "runs").iterdir()}
    assert run_dirs == {r for (r,) in _rows(home, "select run_id from runs")}  # the failed cell left no folder


def test_bad_limit_is_one_line_and_writes_nothing(home):
    before = _rows(home, "select count(*) from runs")
    done = run_cli(["run", "task=vqa", "backbone=llama3", "eval.limit=0"], home=home)
    assert done.returncode == 2 and "eval.limit" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert _rows(home, "select count(*) from runs") == before


def test_sweep_fills_a_three_row_leaderboard_and_compare_explains_it(tmp_path):
    home = tmp_path / "home"
    hidden = ["eval.save_hidden_states=true", "eval.tasks=vqa_scene_pixel_noise,vqa_scene_paraphrase"]
    done = run_cli(["run", "-m", "task=vqa", "backbone=llama1,llama2,llama3", *QUICK, *hidden], home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    board = run_cli(["leaderboard", "task=vqa_scene", "--format", "json"], home=home)
    assert board.returncode == 0, board.stderr
    assert {"llama1 (tiny)", "llama2 (tiny)", "llama3 (tiny)"} <= set(board.stdout.replace('"', "\n").splitlines())

    compare = run_cli(["compare", "task=vqa", "--format", "json", "--resamples", "200"], home=home)
    assert compare.returncode == 0, compare.stderr[-3000:]
    report = json.loads(compare.stdout)
    assert report["backbones"] == ["llama1", "llama2", "llama3"] and report["controlled"]
    stability = report["analyses"]["stability"]["data"]
    assert set(stability["perturbations"]) == {"pixel_noise", "paraphrase"}
    assert report["analyses"]["overlap"]["data"]["pairs"]
