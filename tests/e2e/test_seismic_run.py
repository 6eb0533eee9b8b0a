"""`harness run task=seismic_description` end to end in a fresh interpreter: the seismic world built on
first use under HARNESS_HOME, the organisms trained one step per stage, the task evaluated through
lmms-eval and stored with its structure-level metrics (about 40 s of one core)."""
from __future__ import annotations

import json
import sqlite3

import pytest

from clirunner import run_cli

pytestmark = pytest.mark.slow


def test_seismic_description_runs_end_to_end_and_stores_structure_f1(tmp_path):
    home = tmp_path / "harness_runs"
    done = run_cli(["run", "task=seismic_description", "backbone=llama3", "eval.limit=4", "eval.batch_size=4",
                    "recipe.align.max_steps=1", "recipe.finetune.max_steps=1", "data.scene_questions=0"], home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "seismic_description" in done.stdout and "structure_f1" in done.stdout
    manifest = json.loads((home / "data" / "seismic" / "seed0" / "manifest.json").read_text())
    assert manifest["counts"]["seismic_description"] == 300
    with sqlite3.connect(home / "results.sqlite") as db:
        metrics = dict(db.execute("select metric, value from metrics where task = 'seismic_description'").fetchall())
        tasks = dict(db.execute("select task, count(*) from samples group by task").fetchall())
    assert {"structure_f1", "structure_precision", "structure_recall", "cider", "bleu4"} <= set(metrics)
    assert 0.0 <= metrics["structure_f1"] <= 1.0
    assert tasks == {"seismic_description": 4, "seismic_description@blind": 4}  # the study default: blind pass
