"""lmms-eval's own CLI finds harness_vlm through the entry point and evaluates a harness checkpoint."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_python_m_lmms_eval_runs_harness_vlm_on_a_local_task(tiny_checkpoint, tiny_tasks, tmp_path):
    records = tmp_path / "records"
    args = [sys.executable, "-m", "lmms_eval", "--model", "harness_vlm",
            "--model_args", f"run={tiny_checkpoint},batch_size=4,cache_dir={tmp_path / 'cache'},records_dir={records},hidden_states=true",
            "--tasks", "toy_colour", "--include_path", str(tiny_tasks), "--limit", "6",
            "--log_samples", "--output_path", str(tmp_path / "out")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = list((tmp_path / "out").rglob("*_results.json"))
    samples = list((tmp_path / "out").rglob("*_samples_toy_colour.jsonl"))
    assert len(results) == 1 and len(samples) == 1
    report = json.loads(results[0].read_text())
    assert report["n-samples"]["toy_colour"]["effective"] == 6
    assert "exact_match,none" in report["results"]["toy_colour"]
    assert report["config"]["model_backend"].startswith("harness.evaluation.model.HarnessVLM")
    lines = (records / "harness_records_toy_colour.jsonl").read_text().splitlines()
    assert [json.loads(line)["doc_id"] for line in lines] == list(range(6))
    assert (records / "hidden_states_toy_colour.safetensors").is_file()


def test_python_m_lmms_eval_with_a_folder_that_is_not_a_checkpoint_is_one_line_exit_2(tiny_tasks, tmp_path):
    (tmp_path / "notllava").mkdir()
    (tmp_path / "notllava" / "config.json").write_text('{"model_type": "llama"}')
    args = [sys.executable, "-m", "lmms_eval", "--model", "harness_vlm", "--model_args", f"run={tmp_path / 'notllava'}",
            "--tasks", "toy_colour", "--include_path", str(tiny_tasks), "--limit", "2"]
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "notllava" in errors[0] and "Traceback" not in done.stderr
