"""The analyses on runs of known truth inserted through the store's public API: verdicts come from
positive evidence, runs below their baselines are not interpretable, seeds are the null."""
import gc

import numpy as np
import pytest

from harness.analysis import CompareContext
from harness.errors import HarnessError
from harness.store import RunRecord
from harness_plugins.analyses import accuracy, calibration, competence, controlled, emergent, overlap, vision_bound
from storefill import add_run, config, different_not_more, reseeded, target_of

PNG = b"\x89PNG\r\n\x1a\n"


def pair_all(result, a=None, b=None):
    return next(p for p in result.data["pairs"] if p["group"] == "all" and (a is None or (p["a"], p["b"]) == (a, b)))


def test_constant_predictors_are_not_interpretable_and_the_sentence_says_why(store_file, context):
    n = 60
    for name, constant in (("llama1", "red"), ("llama2", "1")):
        add_run(store_file, name, [target_of(i) == constant for i in range(n)], np.full(n, 0.9),
                predictions=[constant] * n)
    add_run(store_file, "llama3", (np.arange(n) % 2 == 0).astype(int), np.full(n, 0.7))
    ctx = context()
    pair = pair_all(overlap.analyze(ctx), "llama1", "llama2")
    assert pair["verdict"] == "not interpretable"
    assert "llama1 answers 'red' to 60 of 60 vqa_scene items" in pair["sentence"]
    gates = competence.analyze(ctx).data["groups"]
    assert "llama2 answers '1' to 20 of 20 count questions" in gates["qtype=count"]["llama2"]["problems"]
    assert gates["all"]["llama3"]["ok"]
    cal = calibration.analyze(ctx)
    assert not cal.data["backbones"]["llama1"]["interpretable"] and cal.data["pairs"] == []
    assert cal.study[0].status == "not interpretable"
    assert accuracy.analyze(ctx).study[0].status == "not interpretable"  # llama1 is the oldest generation


def test_a_run_on_its_majority_baseline_is_not_interpretable(store_file, context):
    n = 60
    majority = [target_of(i) == target_of(i % 3) for i in range(n)]  # right exactly where the majority answer is
    add_run(store_file, "llama1", majority)
    add_run(store_file, "llama2", (np.arange(n) % 2 == 0).astype(int))
    gate = context().competence(0, "all")
    assert not gate.ok and "not above the majority-answer baseline on vqa_scene items" in gate.problems[0]


def test_a_run_that_solves_nothing_is_not_interpretable(store_file, context):
    add_run(store_file, "llama1", np.zeros(60, dtype=int))
    add_run(store_file, "llama2", (np.arange(60) % 2 == 0).astype(int))
    assert "llama1 solves none of the 60 vqa_scene items" in context().competence(0, "all").problems


def test_two_seeds_of_one_model_against_a_model_solving_disjoint_items_is_different(store_file, context):
    rng = np.random.default_rng(0)
    x = (rng.random(200) < 0.5).astype(int)
    add_run(store_file, "llama1", x, seed=0)
    add_run(store_file, "llama1", reseeded(x, 5, seed=1), seed=1)
    add_run(store_file, "llama3", 1 - x)
    ctx = context()
    assert ctx.n_replicates(0) == 2 and ctx.n_replicates(1) == 1
    pair = pair_all(overlap.analyze(ctx))
    assert pair["verdict"].startswith("different")
    assert pair["a_beyond_seeds"]["excess"]["low"] > 0 and pair["b_beyond_seeds"]["excess"]["low"] > 0


def test_replicates_of_the_same_model_solve_the_same_questions(store_file, context):
    rng = np.random.default_rng(1)
    x = (rng.random(400) < 0.5).astype(int)
    for seed in range(3):
        add_run(store_file, "llama1", reseeded(x, 3, seed=seed), seed=seed)
        add_run(store_file, "llama2", reseeded(x, 3, seed=10 + seed), seed=seed)
    pair = pair_all(overlap.analyze(context()))
    assert pair["verdict"] == "same", pair["sentence"]
    assert pair["test"].startswith("Welch t over seeds (3 + 3 runs")


def test_a_strict_superset_solves_more(store_file, context):
    rng = np.random.default_rng(2)
    a = (rng.random(300) < 0.4).astype(int)
    b = a.copy()
    b[np.flatnonzero(a == 0)[:60]] = 1
    add_run(store_file, "llama1", a)
    add_run(store_file, "llama3", b)
    pair = pair_all(overlap.analyze(context()))
    assert (pair["verdict"], pair["only_a"], pair["only_b"]) == ("more", 0, 60)
    assert "llama3 solves more, a strict superset" in pair["sentence"]


@pytest.mark.parametrize("only_b, only_a, n, expected", [
    (5, 0, 20, "inconclusive"),  # a strict superset, but p=0.062: no evidence either way
    (3, 3, 100, "needs replicates"),  # as many questions (within the margin); same or different needs seeds
    (1, 0, 1, "too few items"),
    (7, 0, 200, "more"),  # p=0.016: significant, so never "the same questions"
])
def test_each_small_table_gets_the_verdict_its_evidence_supports(store_file, context, only_b, only_a, n, expected):
    a = np.zeros(n, dtype=int)
    a[: n // 2] = 1
    b = a.copy()
    b[:only_a] = 0
    b[n // 2: n // 2 + only_b] = 1
    add_run(store_file, "llama1", a, qtypes=())
    add_run(store_file, "llama2", b, qtypes=())
    pair = pair_all(overlap.analyze(context()))
    assert (pair["only_b"], pair["only_a"]) == (only_b, only_a)
    assert pair["verdict"] == expected, pair["sentence"]
    if expected == "inconclusive":
        assert "items would detect a difference of 0.250 with 80% power" in pair["sentence"]
    if expected == "needs replicates":
        assert "harness run -m task=vqa_scene backbone=llama1,llama2 seed=0,1,2" in pair["sentence"]


def test_a_group_no_backbone_beats_blind_on_is_the_vlms_not_using_the_image(store_file, context):
    rng = np.random.default_rng(3)
    base = (rng.random(300) < 0.6).astype(int)
    colour = np.arange(300) % 3 == 0
    for k, name in enumerate(("llama1", "llama2", "llama3")):
        seeing = reseeded(base, 1, seed=k)
        blind = np.where(colour, seeing, 0)  # colour questions: the same answers without the image
        add_run(store_file, name, seeing, blind=blind)
    result = vision_bound.analyze(context())
    groups = result.data["groups"]
    assert groups["qtype=color"]["verdict"] == "the VLMs do not use the image"
    assert groups["qtype=count"]["verdict"] == "vision-bound"
    assert any(f.startswith("The VLMs do not use the image on color questions") for f in result.findings)
    assert result.study[0].status == "shown"


def test_vision_bound_needs_the_blind_baseline(store_file, context):
    rng = np.random.default_rng(5)
    for name in ("llama1", "llama2", "llama3"):
        add_run(store_file, name, (rng.random(300) < 0.35).astype(int))
    result = vision_bound.analyze(context())
    assert result.study[0].status == "not interpretable" and "eval.blind=true" in result.findings[0]


def test_backbones_that_differ_are_not_vision_bound(store_file, context):
    rng = np.random.default_rng(6)
    low = (rng.random(300) < 0.4).astype(int)
    high = np.maximum(low, rng.random(300) < 0.5).astype(int)
    add_run(store_file, "llama1", low, blind=np.zeros(300, dtype=int))
    add_run(store_file, "llama3", high, blind=np.zeros(300, dtype=int))
    assert vision_bound.analyze(context()).data["groups"]["all"]["verdict"].startswith("backbone matters")


def _null_context(rng, n=300, k=3):
    difficulty = rng.uniform(0.2, 0.9, n)
    scores = (rng.random((k, n)) < difficulty).astype(float)
    labels = [f"llama{i + 1}" for i in range(k)]
    runs = [RunRecord(f"r{i}", "vqa_scene", label, "tiny", "clip", "llava15", {}, "h", "t", "c")
            for i, label in enumerate(labels)]
    targets = [target_of(i) for i in range(n)]
    predictions = [[target_of(i) if scores[b, i] else f"wrong{i % 5}" for i in range(n)] for b in range(k)]
    return CompareContext(task="vqa_scene", task_tags=(), runs=runs, labels=labels, generations=[1, 2, 3],
                          items=[("vqa_scene", i) for i in range(n)], scores=scores,
                          confidence=np.full((k, n), np.nan), extras=[{"doc": {"qtype": ("color", "count", "spatial")[i % 3]}}
                                                                      for i in range(n)],
                          metrics=[{} for _ in labels], predictions=predictions, targets=targets, n_resamples=100)


@pytest.fixture
def frozen_heap():
    """statsmodels' Holm runs ``gc.collect()`` on every call; in a test process holding torch and
    transformers that walk of the whole heap was most of this test's time (167 s in CI). Objects made
    before the test are frozen out of the collector's reach for its duration; what it makes is collected."""
    gc.freeze()
    yield
    gc.unfreeze()


def test_a_simulated_null_with_identical_skill_stays_within_the_corrected_false_positive_rate(frozen_heap):
    rng = np.random.default_rng(7)
    reports, flagged, uncorrected = 200, 0, 0
    for _ in range(reports):
        ctx = _null_context(rng)
        pairs = [p for g in accuracy.analyze(ctx).data["groups"].values() for p in g["pairs"]]
        claims = [p for p in overlap.analyze(ctx).data["pairs"] if p["verdict"] in ("more", "more and different",
                                                                                       "different", "different, not more")]
        flagged += any(p["holm_p"] < 0.05 for p in pairs) or bool(claims)
        uncorrected += any(p["p_value"] < 0.05 for p in pairs)
    assert flagged / reports <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / reports)  # the family-wise rate, within noise
    assert uncorrected / reports > 0.2  # what the uncorrected stars would have claimed


def test_accuracy_stars_use_holm_across_pairs_and_groups(store_file, context):
    from statsmodels.stats.multitest import multipletests

    a, b = different_not_more()
    b[:40] = 1
    add_run(store_file, "llama1", a)
    add_run(store_file, "llama2", b)
    data = accuracy.analyze(context()).data["groups"]
    pairs = [p for g in data.values() for p in g["pairs"]]
    assert [p["holm_p"] for p in pairs] == pytest.approx(list(multipletests([p["p_value"] for p in pairs],
                                                                            method="holm")[1]))
    assert data["qtype=count"]["items"] == 100


def test_emergent_follows_generation_order_and_needs_a_significant_rise(store_file, context):
    n = 60
    json_ok = {"llama1": np.zeros(n), "llama2": np.zeros(n), "llama3": (np.arange(n) % 5 < 3).astype(float)}
    for name in ("llama3", "llama1", "llama2"):
        add_run(store_file, name, (np.arange(n) % 2 == 0).astype(int), sample_metrics={"valid_json": json_ok[name]})
    result = emergent.analyze(context(backbones=["llama3", "llama2", "llama1"]))  # shown in another order
    assert result.data["order"] == ["llama1", "llama2", "llama3"]
    rows = {r["capability"]: r["verdict"] for r in result.data["rows"]}
    assert rows["valid_json"] == "emerges with llama3"
    assert rows["accuracy all"] == ""
    assert result.study[0].status == "shown"


def test_nothing_emerging_from_runs_below_their_baselines_is_not_interpretable(store_file, context):
    for name in ("llama1", "llama3"):
        add_run(store_file, name, np.zeros(60, dtype=int))
    result = emergent.analyze(context())
    assert result.study[0].status == "not interpretable" and "llama3 solves none" in result.study[0].sentence


def test_a_rise_on_a_tiny_group_is_not_emergent():
    assert emergent.emerges_at([0.0, 0.0, 1.0]) == 2  # the value rule alone would flag it ...


def test_a_one_item_group_gets_no_emergent_verdict(store_file, context):
    add_run(store_file, "llama1", [0], qtypes=())
    add_run(store_file, "llama3", [1], qtypes=())
    assert emergent.analyze(context()).data["rows"] == []  # ... but groups under 20 items get none


def test_calibration_verdicts_need_a_significant_difference_between_competent_runs(store_file, context):
    rng = np.random.default_rng(3)
    correct = (rng.random(300) < 0.6).astype(int)
    sharp = np.clip(0.2 + 0.6 * correct + 0.05 * rng.random(300), 0, 1)
    add_run(store_file, "llama1", correct, np.full(300, 0.95))
    add_run(store_file, "llama3", reseeded(correct, 2, seed=1), sharp)
    result = calibration.analyze(context())
    pair = result.data["pairs"][0]
    assert pair["difference"]["high"] < 0 and pair["holm_p"] < 0.05
    assert result.study[0].status == "shown" and "llama3 vs llama1: ECE lower" in result.study[0].sentence
    assert open(result.plots[0], "rb").read(8) == PNG


def test_runs_that_differ_beyond_the_backbone_are_refused_naming_the_key(store_file, context):
    add_run(store_file, "llama1", [1, 0, 1, 0])
    add_run(store_file, "llama2", [1, 1, 0, 0], cfg=config(seed=7), controlled="ctl1")
    with pytest.raises(HarnessError, match=r"data\.scene_seed \(0 for llama1 vs 7 for llama2\).*--allow-uncontrolled"):
        context()


def test_runs_that_differ_only_in_the_seed_are_a_controlled_comparison(store_file, context):
    add_run(store_file, "llama1", [1, 0, 1, 0], seed=0)
    add_run(store_file, "llama2", [1, 1, 0, 0], seed=3)
    ctx = context()
    assert not ctx.uncontrolled and controlled.analyze(ctx).data["controlled"]


def test_allowed_uncontrolled_comparisons_list_every_difference(store_file, context):
    add_run(store_file, "llama1", [1, 0, 1, 0])
    add_run(store_file, "llama2", [1, 1, 0, 0], cfg=config(**{"eval.limit": 4, "recipe.lr": 1e-3}), controlled="ctl1")
    ctx = context(allow_uncontrolled=True)
    result = controlled.analyze(ctx)
    assert ctx.uncontrolled and result.data["controlled"] is False
    assert [row[0] for row in result.tables[1].rows] == ["eval.limit", "recipe.lr"]
    assert "NOT a controlled comparison" in result.findings[0]


def test_overlap_is_reported_per_question_type_with_a_chart(store_file, context):
    a, b = different_not_more()
    add_run(store_file, "llama1", a)
    add_run(store_file, "llama2", b)
    result = overlap.analyze(context())
    assert {p["group"] for p in result.data["pairs"]} == {"all", "qtype=color", "qtype=count", "qtype=spatial"}
    assert open(result.plots[0], "rb").read(8) == PNG
