"""The --cpu-smoke modes of the GPU benchmark scripts (README: "only their --cpu-smoke mode is tested"):
each script's whole path, tiny shapes on the CPU, in its own process, with the numbers it prints and writes.
benchmarks/attention_gpu.py's is tested in tests/attention/test_benchmark_smoke.py."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _smoke(script: str, *args: str, cwd: Path) -> str:
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--cpu-smoke", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def test_train_gpu_cpu_smoke_measures_the_recipe_beside_plain_transformers_and_deepspeed(tmp_path):
    out = _smoke("train_gpu.py", "--json", str(tmp_path / "train.json"), cwd=tmp_path)
    report = json.loads((tmp_path / "train.json").read_text())
    assert report["device"] == "cpu"
    assert [row["path"].split()[0] for row in report["rows"]] == ["recipe", "baseline"]
    for row in report["rows"]:
        assert row["tokens_per_s"] > 0 and row["model_tflops_per_s"] > 0 and row["mfu"] is None  # no CPU peak
        assert f"{row['tokens_per_s']:>10,.0f}" in out


def test_eval_gpu_cpu_smoke_measures_harness_vlm_batches_and_llava_hf(tmp_path):
    _smoke("eval_gpu.py", "--out", str(tmp_path / "eval.md"), cwd=tmp_path)
    rows = json.loads((tmp_path / "eval.json").read_text())
    ours = [(row["model"], row["batch_size"]) for row in rows if row["model"].startswith("harness_vlm")]
    assert ours == [("harness_vlm", 1), ("harness_vlm", 4), ("harness_vlm", 8), ("harness_vlm + prefetch", 8)]
    assert all(row["error"] is None and row["samples"] == 16 and row["samples_per_s"] > 0
               for row in rows if row["model"].startswith("harness_vlm"))
    (reference,) = [row for row in rows if row["model"] == "llava_hf"]
    assert reference["samples_per_s"] > 0 or reference["error"]  # measured, or why it could not run
    table = (tmp_path / "eval.md").read_text()
    assert "| harness_vlm | 8 | 16 |" in table and "llava_hf" in table
