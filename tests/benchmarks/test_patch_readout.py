"""benchmarks/patch_readout.py: the reader learns from patch tokens that carry the answer (the oracle
control beats the colour and shape majority answers by far), and runs on the shipped CLIP organism."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "patch_readout.py"


def _run(*args: str) -> str:
    env = os.environ | {"OMP_NUM_THREADS": "2", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def _last_scores(out: str) -> dict[str, float]:
    rows = [line.split() for line in out.splitlines() if re.match(r"\s*\d+\s+\d+\s+[\d.]+", line)]
    return dict(zip(("colour", "shape", "exists"), map(float, rows[-1][2:5])))


def _majority(out: str) -> dict[str, float]:
    line = next(line for line in out.splitlines() if line.startswith("majority answer"))
    return {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+)", line.split(":", 1)[1])}


def test_the_reader_learns_from_perfect_patch_tokens():
    out = _run("--oracle", "--scenes", "800", "--heldout", "300", "--steps", "120", "--every", "120")
    scores, majority = _last_scores(out), _majority(out)
    # 120 steps (7,680 questions, 40 s on one core): colour and shape far above their majority answer
    # (0.54 / 0.62 against 0.16 / 0.27 measured); exists, which needs a colour and a shape bound to one patch,
    # is learned last (0.62 after 19,200 questions) and is not asserted at this budget
    for qtype in ("colour", "shape"):
        assert scores[qtype] > majority[qtype] + 0.25, (qtype, scores, majority)


def test_it_reads_the_shipped_organism():
    out = _run("--scenes", "64", "--heldout", "32", "--steps", "2", "--every", "1")
    assert "plugins/organisms/clip: patch tokens (96, 64, 64)" in out
    assert len(_last_scores(out)) == 3
