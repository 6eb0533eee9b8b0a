"""`harness compare` end to end in a fresh interpreter, on a store the test fills."""
import json
import subprocess
import sys

import numpy as np
import pytest

from clirunner import run_cli
from storefill import TASK, add_run, config, different_not_more, write_hidden_states

HEAVY = ["torch", "transformers", "deepspeed", "lmms_eval", "xformers", "datasets", "matplotlib", "scipy"]


@pytest.fixture
def filled(home):
    """Three backbones: llama1 and llama2 equally accurate on different items, llama3 ahead."""
    store = home / "results.sqlite"
    a, b = different_not_more()
    rng = np.random.default_rng(0)
    c = np.maximum(a, rng.random(len(a)) < 0.5).astype(int)
    for name, correct in (("llama1", a), ("llama2", b), ("llama3", c)):
        valid = (np.arange(len(a)) % 5 < 3) if name == "llama3" else np.zeros(len(a))
        add_run(store, name, correct, np.clip(0.3 + 0.5 * correct + 0.1 * rng.random(len(a)), 0, 1),
                sample_metrics={"valid_json": valid})
    return home


def error_line(result):
    lines = result.stderr.strip().splitlines()
    return [line for line in lines if not line.startswith("warning:")]


def test_compare_reports_every_analysis_as_json_and_writes_the_compare_folder(filled):
    result = run_cli(["compare", "task=vqa", "--format", "json", "--resamples", "300"], home=filled)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["backbones"] == ["llama1", "llama2", "llama3"] and report["controlled"]
    pair = next(p for p in report["analyses"]["overlap"]["data"]["pairs"]
                if (p["group"], p["a"], p["b"]) == ("all", "llama1", "llama2"))
    assert pair["verdict"] in ("inconclusive", "needs replicates")  # single runs: "different" needs seeds
    assert "seed=0,1,2" in pair["sentence"]
    assert report["analyses"]["stability"]["skipped"].endswith("eval.save_hidden_states=true")
    assert any("valid_json on vqa_scene emerges with llama3" in line for line in report["summary"])
    folder = filled / "compare"
    (run_folder,) = folder.iterdir()
    assert sorted(p.name for p in run_folder.iterdir()) == ["overlap.png", "reliability.png", "report.json", "report.md"]
    assert report["plots"] == [str(run_folder / "overlap.png"), str(run_folder / "reliability.png")]


def test_markdown_output_has_a_summary_and_plots_go_where_asked(filled, tmp_path):
    plots = tmp_path / "plots"
    result = run_cli(["compare", "task=vqa_scene", "backbones=llama2,llama1", "--format", "markdown",
                      "--plots", str(plots), "--resamples", "300"], home=filled)
    assert result.returncode == 0, result.stderr
    assert "## Summary" in result.stdout
    assert "- On vqa_scene, llama1 solves" in result.stdout  # backbones keep the order asked for
    assert sorted(p.name for p in plots.iterdir()) == ["overlap.png", "reliability.png"]


def test_table_output_prints_the_summary(filled):
    result = run_cli(["compare", "task=vqa", "--resamples", "300"], home=filled, env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "Different questions, or more questions?" in result.stdout
    assert "Competence gate" in result.stdout and "Summary" in result.stdout


def test_a_backbone_not_in_the_store_is_one_line_exit_2(filled):
    result = run_cli(["compare", "task=vqa", "backbones=llama1,llama9"], home=filled)
    assert result.returncode == 2
    assert error_line(result) == ["error: backbone 'llama9' has no finished run of task 'vqa_scene' in the store "
                                  "(did you mean 'llama3' or 'llama2' or 'llama1'?); backbones with runs: llama1, llama2, llama3"]


def test_uncontrolled_runs_are_refused_then_marked_when_allowed(home):
    store = home / "results.sqlite"
    add_run(store, "llama1", [1, 0, 1, 0] * 10)
    add_run(store, "llama2", [0, 1, 1, 0] * 10, cfg=config(**{"recipe.lr": 1e-3}), controlled="other")
    refused = run_cli(["compare", "task=vqa"], home=home)
    assert refused.returncode == 2 and len(error_line(refused)) == 1
    assert "recipe.lr (2e-05 for llama1 vs 0.001 for llama2)" in refused.stderr
    allowed = run_cli(["compare", "task=vqa", "--allow-uncontrolled", "--format", "markdown", "--resamples", "300"], home=home)
    assert allowed.returncode == 0, allowed.stderr
    titles = [line for line in allowed.stdout.splitlines() if line.startswith("**") and line.endswith("**")]
    assert titles and all("[UNCONTROLLED: differs in more than the backbone]" in t for t in titles[1:])


def test_an_analysis_asked_for_without_its_data_names_the_flag(filled):
    result = run_cli(["compare", "task=vqa", "--analyses", "stability"], home=filled)
    assert result.returncode == 2
    assert error_line(result) == ["error: analysis 'stability' cannot run: runs of llama1, llama2, llama3 have no saved "
                                  "hidden states; rerun `harness run` with eval.save_hidden_states=true"]


def test_runs_without_confidences_skip_calibration_and_say_why(home):
    store = home / "results.sqlite"
    add_run(store, "llama1", [1, 0, 1, 0] * 10)
    add_run(store, "llama2", [0, 1, 1, 0] * 10)
    result = run_cli(["compare", "task=vqa", "--format", "json", "--resamples", "300"], home=home)
    assert result.returncode == 0, result.stderr
    assert "have no saved confidence" in json.loads(result.stdout)["analyses"]["calibration"]["skipped"]


@pytest.mark.parametrize("args, message", [
    (["task=vqa"], "compare needs at least two comparable runs, found 1"),
    (["task=coordinate_prediction"], "no finished runs of task 'coordinate_prediction'"),
    (["colour=red"], "compare takes task=NAME"),
    (["task=vqa", "--analyses", "overlapp"], "unknown analysis 'overlapp' (did you mean 'overlap'?)"),
])
def test_bad_input_is_one_line_exit_2(home, args, message):
    add_run(home / "results.sqlite", "llama1", [1, 0])
    result = run_cli(["compare", *args], home=home)
    assert result.returncode == 2
    (line,) = error_line(result)
    assert message in line


def test_compare_with_hidden_states_measures_stability(home):
    store = home / "results.sqlite"
    rng = np.random.default_rng(0)
    for name, noise in (("llama1", 1.0), ("llama2", 0.2)):
        clean = rng.normal(size=(30, 4, 8)).cumsum(axis=1)
        run_dir = home / "runs" / name
        write_hidden_states(run_dir, TASK, clean)
        write_hidden_states(run_dir, f"{TASK}_paraphrase", clean + noise * rng.normal(size=clean.shape))
        add_run(store, name, (np.arange(30) % 2 == 0).astype(int), run_dir=str(run_dir))
    result = run_cli(["compare", "task=vqa", "--analyses", "stability", "--format", "json"], home=home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "llama2 vs llama1: relative movement lower" in " ".join(report["summary"])
    assert sorted(p.rsplit("/", 1)[1] for p in report["plots"]) == ["layer_cka.png", "stability_paraphrase.png"]


def test_compare_help_imports_no_heavy_library(home):
    probe = ("import contextlib, io, json, sys\nfrom harness.cli.main import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n    code = main(['compare', '--help'])\n"
             f"print(json.dumps({{'code': code, 'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules)}}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=home,
                         env={"HARNESS_HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"code": 0, "heavy": []}


def test_compare_without_a_task_prints_the_study_summary(filled):
    store = filled / "results.sqlite"
    rng = np.random.default_rng(1)
    for name, rate in (("llama1", 0.5), ("llama3", 0.5)):
        add_run(store, name, (rng.random(90) < rate).astype(int), task="coordinate_prediction", run_id=f"c-{name}")
    result = run_cli(["compare", "--format", "json", "--resamples", "200"], home=filled)
    assert result.returncode == 0, result.stderr
    study = json.loads(result.stdout)
    rows = {row[0]: row for row in study["study"]["rows"]}
    assert study["study"]["columns"] == ["finding", "coordinate_prediction", "vqa_scene", "study"]
    assert list(rows) == ["task-dependent gains", "different questions, not more", "better calibration",
                          "more stable representations", "emergent capabilities", "vision-bound tasks"]
    assert rows["emergent capabilities"][2].startswith("shown")
    assert rows["vision-bound tasks"][2] == "not interpretable"  # no blind pass in these runs
    assert rows["more stable representations"][2].startswith("not interpretable")  # not measured
    assert set(study["tasks"]) == {"coordinate_prediction", "vqa_scene"}
    # the paper's two seismic tasks have no runs here: the study says so and names the sweep that runs them
    missing = study["study"]["skipped_tasks"]
    assert set(missing) == {"seismic_description", "seismic_coordinates"}
    assert all("task=vqa,seismic_desc,seismic_coords" in why for why in missing.values())
    table = run_cli(["compare", "--resamples", "200"], home=filled, env={"COLUMNS": "200"})
    assert table.returncode == 0 and "Study summary: the paper's findings" in table.stdout
    assert "seismic_coordinates: skipped (not run" in table.stdout
