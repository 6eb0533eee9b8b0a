"""Representation stability from hidden states saved in the evaluation's sidecar format."""
import numpy as np
import pytest

from harness_plugins.analyses import stability
from harness.analysis.stats.cka import debiased_cka
from harness.analysis.stats.stability import cosine_movement, relative_movement
from storefill import TASK, add_run, write_hidden_states


def states(rng, n=40, layers=4, width=16):
    base = rng.normal(size=(n, 1, width))
    return base + 0.3 * rng.normal(size=(n, layers + 1, width)).cumsum(axis=1)


def add_with_states(store_file, tmp_path, rng, backbone, clean, noise=None, perturbation="pixel_noise"):
    run_dir = tmp_path / backbone
    write_hidden_states(run_dir, TASK, clean)
    if noise is not None:
        write_hidden_states(run_dir, f"{TASK}_{perturbation}", clean + noise * rng.normal(size=clean.shape))
    add_run(store_file, backbone, (np.arange(len(clean)) % 2 == 0).astype(int), run_dir=str(run_dir))


def test_relative_movement_is_zero_unmoved_and_one_for_another_item():
    x = np.random.default_rng(0).normal(size=(50, 8))
    assert relative_movement(x, x) == 0.0
    assert cosine_movement(x, 2 * x) == pytest.approx(0.0)
    shuffled = np.roll(x, 1, axis=0)
    assert relative_movement(x, shuffled) == pytest.approx(1.0, abs=0.15)


def test_the_backbone_whose_representation_moves_less_is_named_steadier(store_file, tmp_path, context):
    rng = np.random.default_rng(1)
    add_with_states(store_file, tmp_path, rng, "llama1", states(rng), noise=1.0)
    add_with_states(store_file, tmp_path, rng, "llama3", states(rng), noise=0.1)
    result = stability.analyze(context())
    moved = result.data["perturbations"]["pixel_noise"]
    assert moved["llama3"]["relative_movement"] < moved["llama1"]["relative_movement"]
    assert result.data["pairs"][0]["holm_p"] < 0.05 and result.study[0].status == "shown"
    assert "llama3 vs llama1: relative movement lower" in result.findings[-1]
    assert {p.rsplit("/", 1)[1] for p in result.plots} == {"stability_pixel_noise.png", "layer_cka.png"}


def test_layer_cka_follows_the_definition_on_the_saved_states(store_file, tmp_path, context):
    rng = np.random.default_rng(2)
    clean = states(rng)
    add_with_states(store_file, tmp_path, rng, "llama1", clean)
    add_with_states(store_file, tmp_path, rng, "llama2", states(rng))
    curve = stability.analyze(context(plots=False)).data["layer_cka"]["llama1"]
    stored = clean.astype(np.float16).astype(np.float64)  # the evaluation stores float16
    assert len(curve) == 4
    assert curve[0] == pytest.approx(debiased_cka(stored[:, 0], stored[:, 1]))


def test_runs_without_perturbation_sets_say_which_tasks_to_evaluate(store_file, tmp_path, context):
    rng = np.random.default_rng(3)
    add_with_states(store_file, tmp_path, rng, "llama1", states(rng))
    add_with_states(store_file, tmp_path, rng, "llama2", states(rng))
    result = stability.analyze(context(plots=False))
    assert result.data["perturbations"] == {}
    assert f"eval.save_hidden_states=true eval.tasks={TASK},{TASK}_pixel_noise,{TASK}_paraphrase" in result.findings[-1]


def test_runs_without_hidden_states_are_listed(store_file, tmp_path, context):
    rng = np.random.default_rng(4)
    add_with_states(store_file, tmp_path, rng, "llama1", states(rng))
    add_run(store_file, "llama2", np.ones(40))
    assert stability.missing_hidden_states(context(plots=False)) == ["llama2"]
