"""`harness run launcher=torchrun num_gpus=2` on the CPU: the training and the evaluation each run in the
same two gloo processes, rank 0 stores every sample once, and the run report says so."""
from __future__ import annotations

import json
import sqlite3

import pytest

from clirunner import run_cli

pytestmark = pytest.mark.slow


def test_harness_run_evaluates_on_the_processes_it_trained_with(tmp_path):
    home = tmp_path / "home"
    done = run_cli(["run", "task=vqa", "backbone=llama3", "recipe.align.max_steps=2", "recipe.finetune.max_steps=2",
                    "data.scene_questions=0", "eval.limit=16", "eval.batch_size=4", "launcher=torchrun", "num_gpus=2"], home=home,
                   env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "train on 2 processes" in done.stdout and "eval on 2 processes" in done.stdout
    with sqlite3.connect(home / "results.sqlite") as db:
        (timings,), = db.execute("select timings_json from runs").fetchall()
        rows = db.execute("select task, doc_id, confidence from samples order by task, doc_id").fetchall()
    assert json.loads(timings)["eval_processes"] == 2
    # vqa_scene and the sets stored beside it (blind pass, perturbations): both ranks' samples, each once,
    # each with its confidence
    assert [d for t, d, _ in rows if t == "vqa_scene"] == list(range(16))
    assert len({(t, d) for t, d, _ in rows}) == len(rows) and all(c is not None for _, _, c in rows)
