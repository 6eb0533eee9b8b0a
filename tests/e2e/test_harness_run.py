"""`harness run` end to end on the embedded default, in fresh interpreters, as a user runs it:
scene data built on first use, the organisms trained with the real DeepSpeed recipe (few steps),
evaluated through lmms-eval, stored, shown; then reuse, lmms-eval's own CLI on the run, a killed run
resumed by the next one, launcher=deepspeed, sweeps, a failing cell and `harness compare`.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clirunner import run_cli

pytestmark = pytest.mark.slow

STUDY_FLOORS = Path(__file__).resolve().parents[2] / "benchmarks" / "study_floors.py"
# Few optimizer steps: the test is about the pipeline, not the model (the default run is measured
# by benchmarks and reported in the README; tests/e2e/test_perceiving_run.py trains one epoch of it). No
# short-answer question exchanges in the mix: listing the 24,000 of them (8 per instruct image, each
# rendered for packing) costs a training half a minute before its first step, whatever its steps;
# the default mix is rendered whole below and trained in test_perceiving_run.py.
QUICK = ["recipe.align.max_steps=3", "recipe.finetune.max_steps=3", "eval.limit=24", "eval.batch_size=8",
         "data.scene_questions=0"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    # Named as the default home, so lmms-eval's CLI finds the scene data from the folder that holds it.
    return tmp_path_factory.mktemp("e2e") / "harness_runs"


def _home_sharing_scene_data(new_home: Path, home: Path) -> Path:
    """A fresh home that reads the scene data the module's first run built (read-only use: no rebuild)."""
    new_home.mkdir(parents=True)
    if (home / "data").is_dir():
        (new_home / "data").symlink_to(home / "data", target_is_directory=True)
    return new_home


def _metrics_lines(home: Path) -> list[str]:
    (metrics,) = home.glob("checkpoints/*/metrics.jsonl")
    return metrics.read_text().splitlines()


def _rows(home, sql, *args):
    with sqlite3.connect(home / "results.sqlite") as db:
        return db.execute(sql, args).fetchall()


def test_first_run_trains_evaluates_stores_and_prints_the_leaderboard(home):
    done = run_cli(["run", "task=vqa", "backbone=llama3", *QUICK], home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Leaderboard" in done.stdout and "llama3 (tiny)" in done.stdout
    assert "majority_baseline" in done.stdout  # the baseline beside the score, in the run report
    # library chatter stays off the terminal: DeepSpeed's CPU op build, torch's CUDA_HOME warning, lmms-eval DEBUG
    assert "built successfully" not in done.stdout and "No CUDA runtime" not in done.stderr
    assert "| DEBUG |" not in done.stderr and "Traceback" not in done.stderr
    (run_id, run_dir, versions, timings), = _rows(home, "select run_id, run_dir, versions_json, timings_json from runs")
    timings = json.loads(timings)
    assert timings["train_s"] > 0 and timings["align_tokens_per_s"] > 0 and timings["finetune_tokens_per_s"] > 0
    metrics = dict(_rows(home, "select metric, value from metrics where run_id = ?", run_id))
    assert {"exact_match", "majority_baseline", "em_perception", "em_reasoning"} <= set(metrics)
    assert 0.0 <= metrics["exact_match"] <= 1.0
    (n,), = _rows(home, "select count(*) from samples where run_id = ? and task = 'vqa_scene' and confidence is not null",
                  run_id)
    assert n == 24
    tasks = {t for t, in _rows(home, "select distinct task from samples where run_id = ?", run_id)}
    assert tasks == {"vqa_scene", "vqa_scene@blind", "vqa_scene_pixel_noise", "vqa_scene_paraphrase"}  # the defaults
    assert json.loads(versions)["attention"].startswith("sdpa")  # auto on the CPU: SDPA, with its reason
    assert json.loads(versions)["compute"].endswith(" kernels")  # the CPU and the kernel set that computed it
    assert json.loads(versions)["train_compute"] == json.loads(versions)["compute"]  # trained here, evaluated here
    files = {p.name for p in (Path(run_dir) / "eval").iterdir()}
    assert any(f.endswith("_results.json") for f in files) and "samples_vqa_scene" in " ".join(files)


def test_second_run_reuses_the_checkpoint(home):
    done = run_cli(["run", "task=vqa", "backbone=llama3", *QUICK], home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "reusing the checkpoint" in done.stdout and "checkpoint reused" in done.stdout
    assert len(_rows(home, "select run_id from runs")) == 2


@pytest.mark.parametrize("backbone", ["llama1", "llama2", "llama3"])
def test_the_organism_profile_trains_every_sample_of_the_default_mix_whole(home, monkeypatch, backbone):
    """recipe.max_length holds the longest finetune sample of the default mix (the scene instructions and the
    seismic exchanges, the module's first run built them) as each backbone renders it with its image tokens,
    counted by the stage's own RenderedSamples: no tokenizer cuts samples another keeps."""
    from harness.cli.config_cmds import resolve_cells
    from harness_plugins.recipes.llava15.parts import build_parts, training_records
    from harness_plugins.recipes.llava15.samples import RenderedSamples

    monkeypatch.setenv("HARNESS_HOME", str(home))
    (resolved,) = resolve_cells((f"backbone={backbone}",), multirun=False)
    cfg = resolved.config
    parts = build_parts(cfg)
    _, finetune, _ = training_records(cfg)
    samples = RenderedSamples(finetune, parts.render_finetune, parts.processor.image_processor, cfg.recipe.max_length,
                              parts.num_image_tokens, parts.image_token_id)
    longest = max(len(samples.tokens(i)[0]) for i in range(len(samples)))
    assert len(finetune) >= 5000  # the instructions and the seismic exchanges
    assert samples.truncation()["samples"] == len(finetune) and samples.truncation()["truncated"] == 0
    assert longest > 256  # the profile's length until 2026-12-06 cut samples


def _raw_answer(logged: dict) -> str:
    """The model's text of an lmms-eval samples line (written flat, ``resps`` dropped when it equals the filtered one)."""
    answer = logged.get("resps", logged["filtered_resps"])
    while isinstance(answer, list):
        answer = answer[0]
    return answer


def test_lmms_eval_cli_on_the_run_directory_gives_the_answers_harness_run_stored(home, tmp_path):
    """README: lmms-eval's own CLI with harness_vlm, on the shipped scene task and the checkpoint the
    recipe exported, named by the run directory, run from the folder that holds harness_runs."""
    import harness_tasks

    (run_id, run_dir), = _rows(home, "select run_id, run_dir from runs order by rowid limit 1")
    stored = dict(_rows(home, "select doc_id, prediction from samples where run_id = ? and task = 'vqa_scene'", run_id))
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_HOME"} | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "lmms_eval", "--model", "harness_vlm",
                           "--model_args", f"run={run_dir},batch_size=8,cache=false", "--tasks", "vqa_scene",
                           "--include_path", str(Path(harness_tasks.__file__).parent), "--limit", "24",
                           "--log_samples", "--output_path", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, cwd=home.parent, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (samples,) = (tmp_path / "out").rglob("*_samples_vqa_scene.jsonl")
    answers = {r["doc_id"]: _raw_answer(r) for r in map(json.loads, samples.read_text().splitlines())}
    assert len(stored) == 24 and answers == stored


def test_a_killed_run_is_resumed_by_the_next_run_which_removes_its_folder(home, tmp_path):
    """README: `harness run` resumes an interrupted training on its own, and the next `harness run`
    removes the folder a killed run left. The resumed process runs only the steps after the checkpoint."""
    reference = [json.loads(line) for line in _metrics_lines(home)]  # the first run's uninterrupted training
    killed_home = _home_sharing_scene_data(tmp_path / "harness_runs", home)
    args = ["run", "task=vqa", "backbone=llama3", *QUICK, "recipe.checkpoint_every=1"]
    env = os.environ | {"HARNESS_HOME": str(killed_home), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli.main", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=tmp_path)
    deadline = time.time() + 600
    while not list(killed_home.glob("checkpoints/*/finetune/latest")):
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (killed_at,) = [int(p.read_text().strip().removeprefix("step")) for p in killed_home.glob("checkpoints/*/finetune/latest")]
    (orphan,) = (killed_home / "runs").iterdir()
    assert not list(killed_home.glob("checkpoints/*/model")) and killed_at < 3
    lines_before = _metrics_lines(killed_home)

    done = run_cli(args, home=killed_home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"removed {orphan.name}: left by a killed run" in done.stderr and not orphan.exists()
    (run_id, run_dir), = _rows(killed_home, "select run_id, run_dir from runs")
    assert [p.name for p in (killed_home / "runs").iterdir()] == [run_id] == [Path(run_dir).name]
    # Align and the finetune steps up to the checkpoint are the killed process's lines (timings and all):
    # only the steps after it ran again, to the losses of the uninterrupted training.
    kept = [line for line in lines_before if json.loads(line)["stage"] == "align" or json.loads(line)["step"] <= killed_at]
    resumed = _metrics_lines(killed_home)
    assert resumed[:len(kept)] == kept and len(resumed) == len(reference) > len(kept)
    for row, expected in zip(map(json.loads, resumed), reference):
        assert (row["stage"], row["step"]) == (expected["stage"], expected["step"])
        assert row["loss"] == pytest.approx(expected["loss"], abs=1e-5)


def test_launcher_deepspeed_runs_the_whole_cell_in_two_processes(home, tmp_path):
    launched_home = _home_sharing_scene_data(tmp_path / "harness_runs", home)
    done = run_cli(["run", "task=vqa", "backbone=llama3", "launcher=deepspeed", "num_gpus=2", "data.scene_questions=0",
                    "recipe.align.max_steps=2", "recipe.finetune.max_steps=2", "eval.limit=8", "eval.batch_size=8"],
                   home=launched_home, env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "deepspeed --no_local_rank --num_gpus 2" in " ".join(done.stdout.split())
    (summary,) = launched_home.glob("checkpoints/*/training_summary.json")
    stages = json.loads(summary.read_text())["stages"]
    assert stages["align"]["world_size"] == stages["finetune"]["world_size"] == 2
    (run_id,), = _rows(launched_home, "select run_id from runs")
    metrics = dict(_rows(launched_home, "select metric, value from metrics where run_id = ? and task = 'vqa_scene'", run_id))
    assert "exact_match" in metrics
    assert len(_rows(launched_home, "select doc_id from samples where run_id = ? and task = 'vqa_scene'", run_id)) == 8


def test_a_failing_cell_is_reported_and_the_others_still_run(home):
    before = len(_rows(home, "select run_id from runs"))
    done = run_cli(["run", "-m", "task=vqa", "backbone=llama3", "backbone.variant=8b,tiny", *QUICK], home=home)
    assert done.returncode == 2
    assert "1 of 2 cells failed" in done.stderr and "8b" in done.stderr and "Traceback" not in done.stderr
    assert len(_rows(home, "select run_id from runs")) == before + 1  # the tiny cell ran and was stored
    run_dirs = {p.name for p in (home / "runs").iterdir()}
    assert run_dirs == {r for (r,) in _rows(home, "select run_id from runs")}  # the failed cell left no folder


def test_bad_limit_is_one_line_and_writes_nothing(home):
    before = _rows(home, "select count(*) from runs")
    done = run_cli(["run", "task=vqa", "backbone=llama3", "eval.limit=0"], home=home)
    assert done.returncode == 2 and "eval.limit" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert _rows(home, "select count(*) from runs") == before


def test_sweep_fills_a_three_row_leaderboard_and_compare_explains_it(tmp_path):
    home = tmp_path / "home"
    hidden = ["eval.save_hidden_states=true", "eval.tasks=vqa_scene_pixel_noise,vqa_scene_paraphrase"]
    done = run_cli(["run", "-m", "task=vqa", "backbone=llama1,llama2,llama3", *QUICK, *hidden], home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    board = run_cli(["leaderboard", "task=vqa_scene", "--format", "json"], home=home)
    assert board.returncode == 0, board.stderr
    assert {"llama1 (tiny)", "llama2 (tiny)", "llama3 (tiny)"} <= set(board.stdout.replace('"', "\n").splitlines())

    compare = run_cli(["compare", "task=vqa", "--format", "json", "--resamples", "200"], home=home)
    assert compare.returncode == 0, compare.stderr[-3000:]
    report = json.loads(compare.stdout)
    assert report["backbones"] == ["llama1", "llama2", "llama3"] and report["controlled"]
    stability = report["analyses"]["stability"]["data"]
    assert set(stability["perturbations"]) == {"pixel_noise", "paraphrase"}
    assert report["analyses"]["overlap"]["data"]["pairs"]

    # benchmarks/study_floors.py reads the same home: the floors table and the perceive-or-bind table, a
    # row per backbone each, and three-step VLMs miss the floors (exit 1, each miss named)
    floors = subprocess.run([sys.executable, str(STUDY_FLOORS), "--home", str(home), "--no-run"],
                            capture_output=True, text=True, timeout=300)
    assert floors.returncode == 1, floors.stdout[-2000:] + floors.stderr[-3000:]
    rows = [line.split(" | ")[0] for line in floors.stdout.splitlines() if line.startswith("| llama")]
    assert rows == ["| llama1", "| llama2", "| llama3"] * 2
    assert "colour: several objects" in floors.stdout and "missed: llama3 colour" in floors.stdout

    # --split val reads the validation runs only (where budgets are chosen): here one backbone's
    val = run_cli(["run", "task=vqa_val", "backbone=llama3", *QUICK], home=home)
    assert val.returncode == 0, val.stderr[-3000:]
    floors = subprocess.run([sys.executable, str(STUDY_FLOORS), "--home", str(home), "--no-run", "--split", "val"],
                            capture_output=True, text=True, timeout=300)
    assert floors.returncode == 1, floors.stdout[-2000:] + floors.stderr[-3000:]
    rows = [line.split(" | ")[0] for line in floors.stdout.splitlines() if line.startswith("| llama")]
    assert rows == ["| llama3"] * 2 and "missed: llama3 colour" in floors.stdout
    assert "no scene_description_val run" in floors.stdout
