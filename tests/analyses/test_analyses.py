"""The analyses on synthetic runs inserted through the store's public API."""
import numpy as np
import pytest

from harness.errors import HarnessError
from harness_plugins.analyses import accuracy, calibration, controlled, emergent, overlap, vision_bound
from harness_plugins.analyses.stats.accuracy import mcnemar
from harness_plugins.analyses.stats.calibration import expected_calibration_error
from storefill import add_run, config, different_not_more

PNG = b"\x89PNG\r\n\x1a\n"


def test_equal_accuracy_on_different_items_is_different_not_more(store_file, context):
    a, b = different_not_more()
    add_run(store_file, "llama2", a)
    add_run(store_file, "llama3", b)
    result = overlap.analyze(context())
    pair = next(p for p in result.data["pairs"] if p["group"] == "all")
    assert pair["verdict"] == "different, not more"
    assert pair["only_a"] == pair["only_b"] > 0
    assert f"llama3 solves {pair['only_b']} items llama2 misses and misses {pair['only_a']} it solves: different, not more" \
        in result.findings[0]


def test_a_backbone_that_adds_solved_items_solves_more(store_file, context):
    rng = np.random.default_rng(1)
    a = (rng.random(200) < 0.4).astype(int)
    b = a.copy()
    b[np.flatnonzero(a == 0)[:60]] = 1
    add_run(store_file, "llama1", a)
    add_run(store_file, "llama3", b)
    pair = overlap.analyze(context()).data["pairs"][0]
    assert (pair["verdict"], pair["only_a"], pair["only_b"]) == ("more", 0, 60)


def test_backbones_that_solve_the_same_items_get_the_same_verdict(store_file, context):
    a, _ = different_not_more()
    b = a.copy()
    b[:3] = 1 - b[:3]
    add_run(store_file, "llama1", a)
    add_run(store_file, "llama2", b)
    assert overlap.analyze(context()).data["pairs"][0]["verdict"] == "same"


def test_overlap_is_reported_per_question_type_with_a_chart(store_file, context):
    a, b = different_not_more()
    add_run(store_file, "llama1", a)
    add_run(store_file, "llama2", b)
    result = overlap.analyze(context())
    assert {p["group"] for p in result.data["pairs"]} == {"all", "qtype=color", "qtype=count", "qtype=spatial"}
    assert open(result.plots[0], "rb").read(8) == PNG


def test_accuracy_intervals_and_mcnemar_per_group(store_file, context):
    a, b = different_not_more()
    b[:40] = 1
    add_run(store_file, "llama1", a)
    add_run(store_file, "llama2", b)
    ctx = context()
    data = accuracy.analyze(ctx).data["groups"]
    acc = data["all"]["accuracy"]["llama2"]
    assert acc["value"] == pytest.approx(b.mean())
    assert acc["low"] < acc["value"] < acc["high"]
    for group, mask in ctx.groups().items():
        assert data[group]["pairs"][0]["p_value"] == pytest.approx(mcnemar(a[mask], b[mask]).p_value)
    assert data["qtype=count"]["items"] == 100


def test_runs_that_differ_beyond_the_backbone_are_refused_naming_the_key(store_file, context):
    add_run(store_file, "llama1", [1, 0, 1, 0])
    add_run(store_file, "llama2", [1, 1, 0, 0], cfg=config(seed=7), controlled="ctl1")
    with pytest.raises(HarnessError, match=r"data\.scene_seed \(0 for llama1 vs 7 for llama2\).*--allow-uncontrolled"):
        context()


def test_allowed_uncontrolled_comparisons_list_every_difference(store_file, context):
    add_run(store_file, "llama1", [1, 0, 1, 0])
    add_run(store_file, "llama2", [1, 1, 0, 0], cfg=config(**{"eval.limit": 4, "recipe.lr": 1e-3}), controlled="ctl1")
    ctx = context(allow_uncontrolled=True)
    result = controlled.analyze(ctx)
    assert ctx.uncontrolled and result.data["controlled"] is False
    assert [row[0] for row in result.tables[1].rows] == ["eval.limit", "recipe.lr"]
    assert "NOT a controlled comparison" in result.findings[0]


def test_runs_that_share_the_controlled_hash_pass_the_check(store_file, context):
    add_run(store_file, "llama1", [1, 0, 1, 0], cfg=config(**{"eval.limit": 4}))
    add_run(store_file, "llama2", [1, 1, 0, 0], cfg={**config(**{"eval.limit": 4}), "backbone": {"name": "llama2"}})
    assert controlled.analyze(context()).data == {"controlled": True, "items": 4, "dropped_items": 0, "differences": []}


def test_calibration_numbers_match_the_statistics_and_a_reliability_diagram_is_written(store_file, context):
    rng = np.random.default_rng(3)
    correct = (rng.random(120) < 0.6).astype(int)
    sharp = np.clip(0.2 + 0.6 * correct + 0.05 * rng.random(120), 0, 1)
    flat = np.full(120, 0.95)
    add_run(store_file, "llama1", correct, flat)
    add_run(store_file, "llama3", correct, sharp)
    result = calibration.analyze(context())
    rows = result.data["backbones"]
    assert rows["llama1"]["ece_mass"] == pytest.approx(expected_calibration_error(flat, correct, 10, "mass"))
    assert rows["llama1"]["auroc"] == pytest.approx(0.5)
    assert rows["llama3"]["auroc"] == pytest.approx(1.0)
    assert result.findings[0].startswith("llama3 is the best calibrated")
    assert open(result.plots[0], "rb").read(8) == PNG


def test_a_metric_near_zero_for_older_generations_is_flagged_emergent(store_file, context):
    n = 50
    add_run(store_file, "llama1", np.zeros(n), metrics={"valid_json": 0.0, "f1": 0.3})
    add_run(store_file, "llama2", np.zeros(n), metrics={"valid_json": 0.03, "f1": 0.35})
    add_run(store_file, "llama3", np.r_[np.ones(30), np.zeros(20)], metrics={"valid_json": 0.62, "f1": 0.4})
    result = emergent.analyze(context(backbones=["llama1", "llama2", "llama3"]))
    flags = {r["capability"]: r["emerges_with"] for r in result.data["rows"]}
    assert flags["valid_json"] == "llama3" and flags["f1"] is None
    assert flags["accuracy all"] == "llama3"
    assert any("valid_json on vqa_scene emerges with llama3 (0.620)" in f for f in result.findings)


def test_a_capability_an_older_generation_already_has_is_not_emergent():
    assert emergent.emerges_at([0.1, 0.0, 0.6]) is None
    assert emergent.emerges_at([0.0, 0.3, 0.6]) == 1


def test_low_accuracy_that_no_backbone_improves_is_flagged_vision_bound(store_file, context):
    rng = np.random.default_rng(5)
    for name in ("llama1", "llama2", "llama3"):
        add_run(store_file, name, (rng.random(300) < 0.35).astype(int))
    data = vision_bound.analyze(context()).data["groups"]
    assert data["all"]["verdict"] == "vision-bound"
    assert data["all"]["intervals_overlap"] and data["all"]["min_p_value"] >= 0.05


def test_groups_near_the_ceiling_or_separating_backbones_are_not_vision_bound(store_file, context):
    rng = np.random.default_rng(6)
    add_run(store_file, "llama1", (rng.random(300) < 0.9).astype(int))
    add_run(store_file, "llama2", (rng.random(300) < 0.9).astype(int))
    assert vision_bound.analyze(context()).data["groups"]["all"]["verdict"] == "near ceiling"
    add_run(store_file, "llama3", (rng.random(300) < 0.3).astype(int))
    assert vision_bound.analyze(context()).data["groups"]["all"]["verdict"] == "backbone matters"
