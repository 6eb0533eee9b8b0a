"""Two `harness run`s of one config on one home, as on a cluster's shared home: one trains, the other
waits for it (saying whom it waits for) and reuses its checkpoint and answers; when the owner is killed
outright, the waiter takes the training over and resumes it to the same losses."""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Enough finetune steps after the first checkpoint to kill the owner mid-stage.
RUN = ["run", "task=vqa", "backbone=llama3", "recipe.align.max_steps=2", "recipe.finetune.max_steps=6",
       "recipe.checkpoint_every=2", "eval.limit=16", "eval.batch_size=8", "data.scene_questions=0"]


def _start(home: Path, *words: str) -> subprocess.Popen:
    env = {**os.environ, "HARNESS_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "harness.cli.main", *RUN, *words], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tempfile.gettempdir())


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f"the owner ended first: {proc.communicate()[1][-2000:]}"
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def _finish(proc: subprocess.Popen) -> tuple[str, str]:
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    return out, err


def _training_folder(home: Path) -> Path:
    (folder,) = [p for p in (home / "checkpoints").iterdir() if p.is_dir()]
    return folder


def _steps(folder: Path) -> list[tuple[str, int, float]]:
    return [(r["stage"], r["step"], r["loss"]) for r in map(json.loads, (folder / "metrics.jsonl").read_text().splitlines())]


def _rows(home: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(home / "results.sqlite") as db:
        return db.execute(sql, args).fetchall()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Two processes, one config, started while the first holds the training; the second with resume=true,
    which must not make it a second writer."""
    home = tmp_path_factory.mktemp("shared") / "home"
    owner = _start(home)
    _wait_for(lambda: any((home / "cache" / "eval").glob("*.lock.json")), owner)  # the owner holds it
    waiter = _start(home, "resume=true")
    return home, owner, _finish(owner), waiter, _finish(waiter)


def test_the_second_process_waits_for_the_first_naming_it_and_reuses_its_checkpoint(shared):
    home, owner, _, waiter, (out, err) = shared
    assert f"waiting for pid {owner.pid} on " in err and "training and evaluating" in err
    assert "reusing the checkpoint" in out and "Traceback" not in err
    (train_s,), = _rows(home, "select json_extract(timings_json, '$.train_s') from runs where run_id != "
                              "(select run_id from runs order by rowid limit 1)")
    assert train_s == 0


def test_every_training_step_ran_once(shared):
    home = shared[0]
    steps = [(stage, step) for stage, step, _ in _steps(_training_folder(home))]
    assert steps == [("align", 1), ("align", 2), *[("finetune", s) for s in range(1, 7)]]


def test_both_runs_have_identical_metrics_predictions_and_confidences(shared):
    home, _, _, _, (out, _) = shared
    first, second = [r for (r,) in _rows(home, "select run_id from runs order by rowid")]
    metrics = "select task, metric, value, stderr from metrics where run_id = ? order by task, metric"
    samples = "select task, doc_id, prediction, score, confidence, extra_json from samples where run_id = ? order by task, doc_id"
    assert _rows(home, metrics, first) == _rows(home, metrics, second) != []
    assert _rows(home, samples, first) == _rows(home, samples, second) != []
    evaluated, cached = map(int, re.search(r"evaluated (\d+) samples in .*?, (\d+) answers from the per-sample cache",
                                           out).groups())
    assert cached == evaluated >= 16  # every answer too was computed once


def test_a_waiter_takes_over_an_owner_killed_outright_and_resumes_to_the_same_losses(shared, tmp_path):
    reference = _steps(_training_folder(shared[0]))
    home = tmp_path / "home"
    owner = _start(home)
    _wait_for(lambda: any((home / "cache" / "eval").glob("*.lock.json")), owner)
    waiter = _start(home)
    latest = lambda: next((home / "checkpoints").glob("*/finetune/latest"), None)  # noqa: E731
    _wait_for(lambda: latest() is not None, owner)  # mid-finetune, a DeepSpeed checkpoint written
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    out, err = _finish(waiter)
    assert f"waiting for pid {owner.pid} on " in err
    assert "taking over training" in err and f"from pid {owner.pid} on " in err and "resuming" in err
    resumed = _steps(_training_folder(home))
    assert [(s, n) for s, n, _ in resumed] == [(s, n) for s, n, _ in reference]
    for (stage, step, loss), (_, _, expected) in zip(resumed, reference):
        assert loss == pytest.approx(expected, abs=1e-5), (stage, step)
    assert len(_rows(home, "select run_id from runs")) == 1
