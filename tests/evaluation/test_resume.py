"""An evaluation killed halfway resumes from the per-sample cache: finished samples are not recomputed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from harness.evaluation.runner import evaluate

# The child slows each batch down (the real model still answers) so the kill lands mid-evaluation.
CHILD = textwrap.dedent("""
    import sys, time, torch
    from pathlib import Path
    torch.set_num_threads(1)
    from harness.evaluation import engine
    real = engine.VLMEngine.generate
    def slow(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        time.sleep(0.4)
        return out
    engine.VLMEngine.generate = slow
    from harness.evaluation.runner import evaluate
    evaluate(Path(sys.argv[1]), ["toy_colour"], sys.argv[2], Path(sys.argv[3]), batch_size=2,
             save_hidden_states=True, cache_dir=Path(sys.argv[4]))
""")


def _cached_lines(cache_dir) -> int:
    return sum(len(p.read_text().splitlines()) for p in cache_dir.glob("*.jsonl")) if cache_dir.is_dir() else 0


@pytest.mark.slow
def test_killed_evaluation_resumes_without_recomputing_finished_samples(tiny_checkpoint, tiny_tasks, tmp_path):
    cache = tmp_path / "cache"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tiny_checkpoint), str(tiny_tasks), str(tmp_path / "killed"),
                              str(cache)], env={**os.environ, "OMP_NUM_THREADS": "1"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _cached_lines(cache) < 4 and child.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    finished = _cached_lines(cache)
    assert 4 <= finished < 12, "the kill should land mid-evaluation"
    assert not (tmp_path / "killed").exists()  # nothing partial in the output folder

    resumed = evaluate(tiny_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "resumed", batch_size=2,
                       save_hidden_states=True, cache_dir=cache)
    assert resumed.cache_hits == finished
    assert resumed.computed == 12 - finished

    fresh = evaluate(tiny_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "fresh", batch_size=2,
                     save_hidden_states=True, cache_dir=None)
    assert fresh.computed == 12
    assert [(s.doc_id, s.prediction, s.score) for s in resumed.samples] == [(s.doc_id, s.prediction, s.score) for s in fresh.samples]
    for a, b in zip(resumed.samples, fresh.samples):
        assert a.confidence == pytest.approx(b.confidence, rel=1e-5)
    assert [(m.metric, m.value) for m in resumed.metrics] == [(m.metric, m.value) for m in fresh.metrics]
