"""Sweeps whose cells run at once: `sweep.parallel=2` (two processes here) and `launcher=slurm` with
submitit's local executor (the same job objects Slurm would run, as local processes). Cells that need
one training share it through its lock; results land in the one store; the terminal shows each cell
queued, running, finished or failed."""
from __future__ import annotations

import json
import sqlite3

import pytest

from clirunner import run_cli

pytestmark = pytest.mark.slow

QUICK = ["task=vqa", "backbone=llama3", "recipe.align.max_steps=2", "recipe.finetune.max_steps=2", "eval.batch_size=8",
         "data.scene_questions=0"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("sweeps") / "home"


def _rows(home, sql, *args):
    with sqlite3.connect(home / "results.sqlite") as db:
        return db.execute(sql, args).fetchall()


def test_two_cells_at_once_share_one_training_and_both_land_in_the_store(home):
    done = run_cli(["run", "-m", *QUICK, "eval.limit=8,16", "sweep.parallel=2"], home=home, env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = done.stdout + done.stderr
    assert "2 at a time" in out and out.count("started  eval.limit=") == 2 and out.count("finished eval.limit=") == 2
    limits = sorted(json.loads(c)["eval"]["limit"] for (c,) in _rows(home, "select config_json from runs"))
    assert limits == [8, 16]
    (folder,) = [p for p in (home / "checkpoints").iterdir() if p.is_dir()]
    steps = [(r["stage"], r["step"]) for r in map(json.loads, (folder / "metrics.jsonl").read_text().splitlines())]
    assert steps == [("align", 1), ("align", 2), ("finetune", 1), ("finetune", 2)]  # trained once, for both
    logs = " ".join(p.read_text() for p in (home / "sweeps").glob("*/cell*.log"))
    assert "waiting for pid" in logs and "reusing the checkpoint" in logs
    assert "Leaderboard" in done.stdout


def test_slurm_cells_through_submitits_local_executor_show_their_states_and_store_their_runs(home):
    before = len(_rows(home, "select run_id from runs"))
    done = run_cli(["run", "-m", *QUICK, "eval.limit=8", "attention=sdpa,xformers", "launcher=slurm",
                    "slurm.executor=local", "slurm.time_min=30"], home=home,
                   env={"OMP_NUM_THREADS": "1", "HARNESS_SLURM_POLL_S": "1"})
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    assert "submitted 2 job(s) (local)" in out
    assert "running  attention=sdpa" in out and "finished attention=sdpa" in out
    (failed,) = [line for line in out.splitlines() if line.startswith("failed   attention=xformers")]
    assert "attention=xformers cannot run on" in failed and "Traceback" not in failed  # the cell's own error
    assert "xformers" in done.stderr.splitlines()[-1]
    assert "1 of 2 cells failed" in done.stderr and "Traceback" not in done.stderr
    (attention,), = _rows(home, "select json_extract(config_json, '$.attention') from runs order by rowid desc limit 1")
    assert len(_rows(home, "select run_id from runs")) == before + 1 and attention == "sdpa"
    (cells,) = (home / "jobs").glob("*/cells.json")
    assert [c["label"] for c in json.loads(cells.read_text())["cells"]] == ["attention=sdpa", "attention=xformers"]
    jobs = run_cli(["jobs"], home=home)
    assert jobs.returncode == 0, jobs.stderr
    assert "finished" in jobs.stdout and "failed" in jobs.stdout and "attention=xformers" in jobs.stdout
