"""End-to-end engine behaviour across processes: torchrun with 2 ranks, kill/resume (only the remaining
steps run), the RNG stream of LoRA dropout across a resume, the optimizer offloaded to the host."""
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


def _run(args, timeout=300, **kw):
    done = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=timeout, **kw)
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


def _lines(run_dir):
    return (run_dir / "metrics.jsonl").read_text().splitlines()


ARGS = ["8", "4", "2", "--samples", "64", "--every", "2"]  # 8 steps of ZeRO-2, a checkpoint every 2


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "full"
    _run([sys.executable, str(RUNNER), str(run_dir), *ARGS])
    return run_dir


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint_and_runs_only_the_remaining_steps(tmp_path, uninterrupted):
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(RUNNER), str(killed_dir), *ARGS, "--slow", "0.05"], env=_env(),
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
    done_before = int(killed_at.removeprefix("step"))
    lines_before = _lines(killed_dir)
    report = tmp_path / "resumed.json"
    _run([sys.executable, str(RUNNER), str(killed_dir), *ARGS, "--resume", "--report", str(report)])
    # The resumed process loaded the last checkpoint and ran only the steps after it: a resume that
    # restarts at step 0 reaches the same losses (training is deterministic) but not this.
    resumed_process = json.loads(report.read_text())
    assert resumed_process["loaded"] == [killed_at]
    assert resumed_process["ran"] == list(range(done_before + 1, 9))
    # The killed process's lines up to the checkpoint are kept as they were (timings included).
    assert _lines(killed_dir)[:done_before] == lines_before[:done_before]
    full, resumed = _losses(uninterrupted), _losses(killed_dir)
    assert list(resumed) == list(full) == list(range(1, 9))
    for step in full:
        assert resumed[step] == pytest.approx(full[step], abs=1e-6), step


@pytest.mark.slow
def test_resume_continues_the_rng_stream_of_lora_dropout(tmp_path):
    """LoRA dropout draws from torch's RNG every step: the resumed steps reproduce the uninterrupted
    ones only if the checkpoint's RNG state is restored (the dropout masks differ otherwise)."""
    args = ["8", "4", "2", "--samples", "48", "--every", "2", "--lora-dropout", "0.3"]
    _run([sys.executable, str(RUNNER), str(tmp_path / "full"), *args])
    _run([sys.executable, str(RUNNER), str(tmp_path / "resumed"), *args, "--stop-after", "2"])
    assert (tmp_path / "resumed" / "finetune" / "latest").read_text().strip() == "step0000002"
    report = tmp_path / "resumed.json"
    _run([sys.executable, str(RUNNER), str(tmp_path / "resumed"), *args, "--resume", "--report", str(report)])
    assert json.loads(report.read_text())["ran"] == [3, 4, 5, 6]
    full, resumed = _losses(tmp_path / "full"), _losses(tmp_path / "resumed")
    assert list(resumed) == list(full) == list(range(1, 7))
    assert list(resumed.values()) == pytest.approx(list(full.values()), abs=1e-6)


@pytest.mark.slow
def test_offloaded_optimizer_trains_like_the_plain_one(tmp_path, uninterrupted):
    """recipe.offload=optimizer: DeepSpeed's CPU Adam steps the (ZeRO-2) optimizer state on the host; the
    first use builds its C++ op (minutes, once per machine: cached in ~/.cache/torch_extensions)."""
    report = tmp_path / "offloaded.json"
    _run([sys.executable, str(RUNNER), str(tmp_path / "offloaded"), *ARGS, "--offload", "optimizer", "--report", str(report)],
         timeout=900)
    process = json.loads(report.read_text())
    assert process["offloaded"] and process["optimizer"] == "DeepSpeedCPUAdam"
    full, offloaded = _losses(uninterrupted), _losses(tmp_path / "offloaded")
    assert list(offloaded) == list(full) == list(range(1, 9))
    assert list(offloaded.values()) == pytest.approx(list(full.values()), rel=1e-5)
