"""Data-parallel evaluation (harness.evaluation.distributed): two gloo processes under torchrun give the
metrics, predictions, confidences and hidden states of one process, written once by rank 0; a killed
two-process evaluation resumes from the shared answer cache; a rank crashing on its way out (after the result
is written) does not fail the launch; lmms-eval's own CLI under torchrun writes
records_dir once with every rank's records."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.evaluation.distributed import evaluate_launched
from harness.evaluation.sidecar import read_hidden_states

pytestmark = pytest.mark.slow

TWO = SimpleNamespace(launcher="torchrun", num_gpus=2, num_nodes=1, hostfile=None)


@pytest.fixture(autouse=True)
def _one_thread_per_rank(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two ranks on two cores


def _kwargs(checkpoint, tasks_dir, out, tasks, **extra):
    return {"checkpoint_dir": checkpoint, "tasks": tasks, "include_path": str(tasks_dir), "output_dir": out,
            "batch_size": 4, "save_hidden_states": True, "seed": 0, "bootstrap_iters": 0, **extra}


def _metrics(result):
    return sorted((m.task, m.metric, m.value, m.stderr) for m in result.metrics)


def _samples(result):
    return sorted((s.task, s.doc_id, s.prediction, s.target, s.score, json.dumps(s.extra.get("metrics")))
                  for s in result.samples)


def _confidences(result):
    """Per sample: the answer's confidence, or the log-likelihoods of a multiple-choice item's choices."""
    return {(s.task, s.doc_id): s.confidence if s.confidence is not None else s.extra.get("choice_loglikelihoods")
            for s in result.samples}


def test_two_gloo_processes_give_the_metrics_predictions_confidences_and_hidden_states_of_one(
        tiny_checkpoint, tiny_tasks, tmp_path):
    from harness.evaluation.runner import evaluate

    tasks = ["toy_colour", "toy_colour_mc"]
    one = evaluate(**_kwargs(tiny_checkpoint, tiny_tasks, tmp_path / "one", tasks))
    two = evaluate_launched(TWO, **_kwargs(tiny_checkpoint, tiny_tasks, tmp_path / "two", tasks,
                                           cache_dir=tmp_path / "cache"))
    assert (one.processes, two.processes) == (1, 2)
    assert _metrics(two) == _metrics(one) != []
    assert _samples(two) == _samples(one)
    assert len(two.samples) == 12 + 6
    for key, confidence in _confidences(one).items():
        assert _confidences(two)[key] == pytest.approx(confidence, abs=1e-6), key
    a, b = read_hidden_states(one.hidden_states["toy_colour"]), read_hidden_states(two.hidden_states["toy_colour"])
    assert sorted(a) == sorted(b) == list(range(12))
    for doc in a:
        assert abs(a[doc].astype("float32") - b[doc].astype("float32")).max() < 1e-2  # float16 storage
    # rank 0 wrote the output once, every rank's records in it; no other rank left a folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "one", "two"]
    records = (tmp_path / "two" / "harness_records_toy_colour.jsonl").read_text().splitlines()
    assert [json.loads(line)["doc_id"] for line in records] == list(range(12))
    assert two.cache_hits == 0 and two.computed >= 12 + 6


def test_a_rank_that_crashes_on_its_way_out_does_not_fail_a_finished_evaluation(tiny_checkpoint, tiny_tasks, tmp_path,
                                                                                  monkeypatch):
    """Rank 1 aborts (SIGABRT) in the interpreter's teardown, as a library's dying thread once did in CI
    ("terminate called without an active exception"): the workers leave without that teardown, after the
    result is written, so the launch still succeeds with every answer."""
    from harness.evaluation.runner import evaluate

    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import atexit, os\n"
        "if os.environ.get('RANK') == '1':\n"
        "    atexit.register(os.abort)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")])))
    two = evaluate_launched(TWO, **_kwargs(tiny_checkpoint, tiny_tasks, tmp_path / "two", ["toy_colour"]))
    one = evaluate(**_kwargs(tiny_checkpoint, tiny_tasks, tmp_path / "one", ["toy_colour"]))
    assert two.processes == 2 and _metrics(two) == _metrics(one) and _samples(two) == _samples(one)
    # the hook is live: a plain python under the same environment aborts on its way out as rank 1
    env = {**os.environ, "PYTHONPATH": str(hooks), "RANK": "1"}
    assert subprocess.run([sys.executable, "-c", "pass"], env=env).returncode == -signal.SIGABRT


@pytest.fixture(scope="module")
def long_task(tmp_path_factory):
    """Long answers (48 new tokens from a random model), so that an evaluation can be killed midway."""
    from harness.evaluation.synthetic import build_task

    folder = tmp_path_factory.mktemp("long")
    build_task(folder, n=48, name="toy_long", max_new_tokens=48)
    return folder


def test_a_killed_two_process_evaluation_resumes_from_the_cache_to_the_same_answers(tiny_checkpoint, long_task,
                                                                                    tmp_path):
    from harness.evaluation.runner import evaluate

    cache = tmp_path / "cache"
    args = _kwargs(tiny_checkpoint, long_task, tmp_path / "killed", ["toy_long"], cache_dir=cache, batch_size=2)
    script = ("import sys, json; from types import SimpleNamespace\n"
              "from harness.evaluation.distributed import evaluate_launched\n"
              "evaluate_launched(SimpleNamespace(**json.loads(sys.argv[1])), **json.loads(sys.argv[2]))")
    plain = {k: str(v) if isinstance(v, Path) else v for k, v in args.items()}
    proc = subprocess.Popen([sys.executable, "-c", script, json.dumps(vars(TWO)), json.dumps(plain)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300

    def cached() -> int:
        files = list(cache.glob("*.jsonl"))
        return len(files[0].read_text().splitlines()) if files else 0

    while cached() < 8:
        assert proc.poll() is None, "the evaluation ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both ranks
    proc.wait()
    done_before = cached()
    assert done_before < 48 and not (tmp_path / "killed").exists()  # nothing half-written

    resumed = evaluate_launched(TWO, **{**args, "output_dir": tmp_path / "resumed"})
    assert resumed.cache_hits >= 8 and resumed.computed + resumed.cache_hits == 48
    fresh = evaluate(**_kwargs(tiny_checkpoint, long_task, tmp_path / "fresh", ["toy_long"], batch_size=2))
    assert _metrics(resumed) == _metrics(fresh) and _samples(resumed) == _samples(fresh)


def test_lmms_eval_cli_under_torchrun_writes_records_dir_once_with_every_rank(tiny_checkpoint, tiny_tasks, tmp_path):
    records = tmp_path / "records"
    args = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2",
            "-m", "lmms_eval", "--model", "harness_vlm",
            "--model_args", f"run={tiny_checkpoint},batch_size=4,cache_dir={tmp_path / 'cache'},records_dir={records},"
                            "hidden_states=true",
            "--tasks", "toy_colour", "--include_path", str(tiny_tasks), "--log_samples", "--output_path", str(tmp_path / "out")]
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = (records / "harness_records_toy_colour.jsonl").read_text().splitlines()
    assert [json.loads(line)["doc_id"] for line in lines] == list(range(12))  # both ranks' docs, once
    assert sorted(read_hidden_states(records / "hidden_states_toy_colour.safetensors")) == list(range(12))
    (cache_file,) = (tmp_path / "cache").glob("*.jsonl")
    keys = [json.loads(line)["key"] for line in cache_file.read_text().splitlines()]
    assert len(keys) == len(set(keys)) >= 12  # both ranks appended whole lines, nothing twice
