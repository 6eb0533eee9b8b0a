"""End-to-end engine behaviour across processes: torchrun with 2 ranks, and kill/resume."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUNNER = Path(__file__).with_name("run_tiny_stage.py")
VENV_BIN = Path(sys.executable).parent


def _env():
    return os.environ | {"OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu", "PYTHONWARNINGS": "ignore"}


def _losses(run_dir):
    return {r["step"]: r["loss"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())}


def _run(args, **kw):
    done = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=300, **kw)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    _run([sys.executable, str(RUNNER), str(tmp_path / "one"), "8", "2", "2"])
    torchrun = str(VENV_BIN / "torchrun")
    _run([torchrun, "--standalone", "--nproc_per_node", "2", str(RUNNER), str(tmp_path / "two"), "8", "2", "2"])
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert list(one) == list(two) == [1, 2, 3, 4]
    for step in one:
        assert two[step] == pytest.approx(one[step], abs=1e-5)


@pytest.mark.slow
def test_killed_run_resumes_with_the_same_losses_as_an_uninterrupted_one(tmp_path):
    args = [str(tmp_path / "x"), "8", "4", "2", "--samples", "64", "--every", "2"]
    _run([sys.executable, str(RUNNER), str(tmp_path / "full"), *args[1:]])
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(RUNNER), str(killed_dir), *args[1:], "--slow", "0.05"], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = killed_dir / "finetune" / "latest"
    deadline = time.time() + 240
    while time.time() < deadline and not (latest.is_file() and latest.read_text().strip() == "step0000004"):
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = latest.read_text().strip()
    assert killed_at in ("step0000004", "step0000006")
    _run([sys.executable, str(RUNNER), str(killed_dir), *args[1:], "--resume"])
    full, resumed = _losses(tmp_path / "full"), _losses(killed_dir)
    assert list(resumed) == list(full) == list(range(1, 9))
    for step in full:
        assert resumed[step] == pytest.approx(full[step], abs=1e-6), step
