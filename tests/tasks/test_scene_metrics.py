"""Metric functions of the three scene tasks, computed from given responses."""
import json
import math

import pytest

from harness_plugins.scene.metrics import (
    attribute_counts,
    bleu4,
    cider,
    coordinate_score,
    exact_match,
    majority_baseline,
    mean_distance,
    mean_score,
    micro_f1,
    normalize_answer,
    parse_coordinates,
)
from harness_plugins.scene.world import describe, generate_scene


@pytest.mark.parametrize("response,answer", [("Red.", "red"), ("three", "3"), ("The circle", "circle"),
                                             ("yes\nbecause", "yes"), ("Color", "colour")])
def test_exact_match_normalises_case_articles_punctuation_and_number_words(response, answer):
    assert exact_match(response, answer) == 1.0


def test_exact_match_rejects_a_different_answer():
    assert exact_match("blue", "red") == 0.0
    assert normalize_answer("") == ""


def test_majority_baseline_answers_each_type_with_its_most_frequent_answer():
    items = [{"qtype": "exists", "answer": a} for a in ("yes", "yes", "no")] + \
            [{"qtype": "count", "answer": a} for a in ("1", "2", "2", "3")]
    assert majority_baseline(items) == pytest.approx((2 + 2) / 7)


def test_mean_score_filters_by_type():
    items = [{"qtype": "colour", "score": 1.0}, {"qtype": "count", "score": 0.0}, {"qtype": "colour", "score": 0.0}]
    assert mean_score(items) == pytest.approx(1 / 3)
    assert mean_score(items, "colour") == 0.5
    assert math.isnan(mean_score(items, "spatial"))


def test_attribute_f1_is_one_for_the_reference_description():
    scene = generate_scene(4)
    assert micro_f1([attribute_counts(describe(scene), scene)])["f1"] == 1.0


def test_attribute_f1_gives_partial_credit_for_a_wrong_size_and_a_missing_object():
    scene = generate_scene(4, n_objects=(2, 2))
    a, b = scene.objects
    wrong = "large" if a.size == "small" else "small"
    text = f"There are two objects. A {wrong} {a.colour} {a.shape} at the {a.region}."
    counts = attribute_counts(text.replace("at the centre", "in the centre"), scene)
    assert counts == {"tp": 2, "pred": 3, "gold": 6}
    scores = micro_f1([counts])
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(1 / 3)


def test_attribute_f1_is_zero_for_unrelated_text():
    scene = generate_scene(4)
    assert micro_f1([attribute_counts("I cannot see anything.", scene)])["f1"] == 0.0


def test_caption_metrics_reward_the_reference_over_other_text():
    refs = [describe(generate_scene(s)) for s in range(6)]
    shuffled = refs[1:] + refs[:1]
    assert cider(refs, refs) > cider(refs, shuffled)
    assert bleu4(refs, refs) == pytest.approx(1.0, abs=1e-6)
    assert bleu4(refs, ["" for _ in refs]) < 0.01


@pytest.mark.parametrize("response", ['{"x": 0.4, "y": 0.2}', '```json\n{"x": 0.4, "y": 0.2}\n```', '{"y":0.2,"x":0.4}'])
def test_coordinates_parse_from_json(response):
    assert parse_coordinates(response) == (0.4, 0.2)


@pytest.mark.parametrize("response", ["0.4, 0.2", '{"x": "0.4", "y": 0.2}', '{"x": 0.4}', "[0.4, 0.2]",
                                      '{"x": true, "y": 0.2}', ""])
def test_coordinates_reject_invalid_json_answers(response):
    assert parse_coordinates(response) is None


def test_coordinate_score_counts_hits_within_tolerance_and_distance():
    answer = json.dumps({"x": 0.5, "y": 0.5})
    near = coordinate_score('{"x": 0.55, "y": 0.5}', answer)
    far = coordinate_score('{"x": 0.9, "y": 0.5}', answer)
    bad = coordinate_score("the middle", answer)
    assert near["hit"] == 1.0 and near["distance"] == pytest.approx(0.05)
    assert far["hit"] == 0.0 and far["valid"] == 1.0
    assert bad == {"valid": 0.0, "hit": 0.0, "distance": None}
    assert mean_distance([near, far, bad]) == pytest.approx((0.05 + 0.4) / 2)
    assert math.isnan(mean_distance([bad]))
