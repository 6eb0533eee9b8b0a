"""benchmarks/recipe_arms.py: runs are matched to arms by the training hash the harness resolves, and the
statistics are scipy's and statsmodels' on exactly those runs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "recipe_arms.py"
sys.path.insert(0, str(SCRIPT.parent))

ARM = ["data.perceive=scene", "data.perceive_types=colour,shape,exists,description"]
GOLD = "There are two objects. A large red circle is at the top left. A small blue square is at the bottom right."
HALF = "There are two objects. A large red circle is at the top left. A small green triangle is at the top right."


def _store_run(store, run_id: str, backbone: str, training_hash: str, colour_hits: int, good_descriptions: int,
               train_compute: str = "AMD EPYC, AVX2 kernels") -> None:
    """A vqa_scene_val run (10 colour, 10 shape questions) and a scene_description_val run (10 items)."""
    from harness.store import MetricRow, RunRecord, SampleRow

    samples = [SampleRow("vqa_scene_val", i, "red", "red", float(i < colour_hits), extra={"doc": {"qtype": "colour"}})
               for i in range(10)]
    samples += [SampleRow("vqa_scene_val", 10 + i, "circle", "circle", 1.0, extra={"doc": {"qtype": "shape"}})
                for i in range(10)]
    for task, rows in (("vqa_scene_val", samples),
                       ("scene_description_val", [SampleRow("scene_description_val", i, GOLD if i < good_descriptions
                                                            else HALF, GOLD) for i in range(10)])):
        store.add_run(RunRecord(f"{run_id}-{task}", task, backbone, "tiny", "clip", "llava15", {}, run_id,
                                training_hash, "c", versions={"train_compute": train_compute}, created=run_id),
                      [MetricRow(task, "score", 0.5, None, True, True)], rows)


@pytest.fixture(scope="module")
def hashes():
    from recipe_arms import training_hash

    return {(arm, seed): training_hash("llama3", seed, ARM if arm == "arm" else []) for arm in ("base", "arm")
            for seed in (0, 1, 2)}


def test_runs_are_found_by_training_hash_and_compared_with_welch_and_holm(tmp_path, hashes):
    from scipy.stats import ttest_ind

    from harness.store import open_store
    from recipe_arms import collect, difference_rows, pooled_rows

    assert len(set(hashes.values())) == 6  # every arm and seed trains its own checkpoint
    colour = {("base", 0): 4, ("base", 1): 5, ("base", 2): 6, ("arm", 0): 7, ("arm", 1): 9, ("arm", 2): 8}
    with open_store(tmp_path / "results.sqlite") as store:
        for (arm, seed), hits in colour.items():
            _store_run(store, f"2026-{arm}-{seed}", "llama3", hashes[arm, seed], hits, 5 if arm == "base" else 8)
        # newer runs of other configs (another training hash; another backbone) must not enter either arm
        _store_run(store, "2027-other-config", "llama3", "0123456789abcdef", 0, 0)
        _store_run(store, "2027-other-backbone", "llama1", hashes["arm", 0], 0, 0)
    runs = collect(tmp_path, {"base": [], "arm": ARM}, ["llama3"], [0, 1, 2])
    assert [(r.arm, r.seed, r.values["colour"]) for r in runs] == [(arm, seed, colour[arm, seed] / 10)
                                                                  for arm in ("base", "arm") for seed in (0, 1, 2)]
    assert all(r.cells["trained on"] == "AMD EPYC, AVX2 kernels" and not r.missing for r in runs)
    assert "colour: several objects" not in runs[0].values  # no scene data build in this home: no binding column

    rows = {row[1]: row for row in difference_rows(runs, "base", "arm")}
    expected = ttest_ind([0.7, 0.9, 0.8], [0.4, 0.5, 0.6], equal_var=False).pvalue
    assert rows["colour"][4] == "+0.300" and rows["colour"][5] == f"{expected:.3g}"
    assert rows["shape"][4:] == ["+0.000", "-", "-"]  # every shape answer right in both arms: nothing to test
    # descriptions: 5 of 10 exact against 8 of 10, the rest half right: F1 rises in the arm
    assert float(rows["description F1"][3].split()[0]) > float(rows["description F1"][2].split()[0])
    pooled = {row[0]: row for row in pooled_rows(runs, "arm")}
    assert pooled["colour"][1].startswith("+0.300") and pooled["colour"][2] == "6"


def test_the_script_names_the_runs_an_arm_lacks_with_the_command_that_makes_them(tmp_path, hashes):
    from harness.store import open_store

    with open_store(tmp_path / "results.sqlite") as store:
        _store_run(store, "2026-base-0", "llama3", hashes["base", 0], 4, 5)
    done = subprocess.run([sys.executable, str(SCRIPT), "--home", str(tmp_path), "--arm", " ".join(ARM),
                           "--backbones", "llama3", "--seeds", "0"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| llama3 | base | 0 | " + hashes["base", 0] in done.stdout
    assert (f"missing: llama3 arm seed 0: harness --home {tmp_path} run task=vqa_val backbone=llama3 seed=0 "
            f"eval.blind=true {' '.join(ARM)}") in done.stdout
