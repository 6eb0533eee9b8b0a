"""The seismic generator: deterministic, versioned, annotations that survive JSON, descriptions that
parse back to the annotation's structures, and coordinate questions with JSON answers."""
import json
import random

import numpy as np
import pytest

from harness_plugins.seismic import model
from harness_plugins.seismic.language import (
    annotation_facts,
    annotation_structures,
    coordinate_question,
    coordinate_questions,
    describe,
    description_facts,
    parse_description,
)
from harness_plugins.seismic.metrics import structure_counts, structure_f1
from harness_plugins.seismic.model import Body, Fault, Horizon, Section, generate_section
from harness_plugins.seismic.render import amplitude, render

SECTIONS = [generate_section(seed) for seed in range(60)]


def test_same_seed_same_section_and_image_other_seed_other():
    a, b = generate_section(11), generate_section(11)
    assert a == b and render(a).tobytes() == render(b).tobytes()
    assert generate_section(12) != a
    rng1, rng2 = random.Random(3), random.Random(3)
    assert [generate_section(rng1) for _ in range(3)] == [generate_section(rng2) for _ in range(3)]


def test_image_is_a_function_of_the_annotation_alone():
    section = generate_section(5)
    again = Section.from_dict(json.loads(json.dumps(section.to_dict())))
    assert again == section and np.array_equal(amplitude(again), amplitude(section))


def test_image_is_64_square_grey_rgb_with_visible_reflectors():
    image = render(SECTIONS[0])
    assert image.size == (64, 64) and image.mode == "RGB"
    pixels = np.asarray(image)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    assert pixels.std() > 10  # not a flat grey


def test_a_fault_offsets_the_reflectors_of_its_hanging_wall():
    flat = Section(horizons=(Horizon(0.5, 0.0, 0.0, 1.0),), noise=0.0)
    fault = Fault("normal", "right", 0.45, 0.05, 0.55, 0.95, 0.1)
    faulted = Section(horizons=flat.horizons, faults=(fault,), noise=0.0)

    def peak(s, col):
        return int(np.argmax(amplitude(s)[:, col]))

    assert peak(flat, 10) == peak(faulted, 10)  # footwall (left of a fault dipping right) in place
    assert peak(faulted, 60) - peak(flat, 60) == pytest.approx(0.1 * 64, abs=1.5)  # hanging wall down
    reverse = Section(horizons=flat.horizons, faults=(Fault("reverse", "right", 0.45, 0.05, 0.55, 0.95, 0.1),),
                      noise=0.0)
    assert peak(flat, 60) - peak(reverse, 60) == pytest.approx(0.1 * 64, abs=1.5)  # hanging wall up


def test_generator_covers_every_structure():
    kinds = {(f.kind, f.dip) for s in SECTIONS for f in s.faults}
    assert kinds == {(k, d) for k in model.FAULT_TYPES for d in model.DIRECTIONS}
    assert {b.kind for s in SECTIONS for b in s.bodies} == set(model.BODY_KINDS)
    assert {s.dip for s in SECTIONS} == {"left", "right", "flat"}
    assert {s.fold for s in SECTIONS} == {"anticline", "syncline", None}
    assert {len(s.faults) for s in SECTIONS} == {0, 1, 2}


def test_the_fold_follows_the_curvature_sign():
    arch = Section(horizons=(Horizon(0.5, 0.0, 0.15, 1.0),))  # ends deeper than the middle
    assert arch.fold == "anticline" and arch.horizons[0].y_at(0.0) > arch.horizons[0].y_at(0.5)
    assert Section(horizons=(Horizon(0.5, 0.0, -0.15, 1.0),)).fold == "syncline"


def test_the_generator_version_is_part_of_every_build_fingerprint(monkeypatch):
    from harness_plugins.seismic import dataset

    before = dataset.fingerprint(0, dataset.SeismicDataSizes())
    monkeypatch.setattr(dataset, "GENERATOR_VERSION", "999")
    assert dataset.fingerprint(0, dataset.SeismicDataSizes()) != before


def test_generator_output_is_pinned_for_this_version():
    """Changing what a seed generates must bump GENERATOR_VERSION (and then these pins)."""
    import hashlib

    section = generate_section(0)
    assert model.GENERATOR_VERSION == "1"
    annotation = json.dumps(section.to_dict(), sort_keys=True).encode()
    assert hashlib.sha256(annotation).hexdigest()[:16] == "9dd2bcec0528d7a9"
    assert describe(section) == ("There are five horizons, dipping to the right. A reverse fault dips to the left "
                                 "in the centre. A normal fault dips to the right on the right.")
    assert np.asarray(render(section)).mean() == pytest.approx(127.393, abs=0.01)


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: f"seed{s.seed}")
def test_description_parses_back_to_the_annotation(section):
    text = describe(section)
    assert parse_description(text) == annotation_structures(section)
    assert structure_f1(text, section) == 1.0


def test_parser_reads_hand_written_descriptions():
    text = ("Four horizons dipping to the left; they fold into a syncline.\n"
            "A Reverse fault dips to the right in the center. a normal fault dips to the left.\n"
            "There is a salt body at the bottom left, and a channel.")
    assert parse_description(text) == {
        "horizons": 4, "dip": "left", "fold": "syncline",
        "faults": [{"kind": "reverse", "dip": "right", "column": "centre"},
                   {"kind": "normal", "dip": "left", "column": None}],
        "bodies": [{"kind": "salt body", "region": "bottom left"}, {"kind": "channel", "region": None}],
    }
    assert parse_description("The horizons are nearly flat. There are 3 horizons.")["dip"] == "flat"
    assert parse_description("The horizons are nearly flat. There are 3 horizons.")["horizons"] == 3
    assert parse_description("no idea") == {"horizons": None, "dip": None, "fold": None, "faults": [], "bodies": []}


def test_structure_f1_is_lower_for_a_wrong_description():
    section = Section(horizons=(Horizon(0.3, 0.2, 0.15, 1.0), Horizon(0.6, 0.2, 0.15, -1.0)),
                      faults=(Fault("normal", "left", 0.55, 0.1, 0.45, 0.9, 0.08),),
                      bodies=(Body("channel", 0.2, 0.25, 0.1, 0.04),))
    truth = describe(section)
    assert truth == ("There are two horizons, dipping to the right. The horizons fold into an anticline. "
                     "A normal fault dips to the left in the centre. There is a channel at the top left.")
    assert structure_f1(truth, section) == 1.0
    wrong_fault = truth.replace("normal fault dips to the left", "reverse fault dips to the right")
    assert 0.5 < structure_f1(wrong_fault, section) < 1.0
    missing = "There are two horizons, dipping to the right."
    assert structure_counts(missing, section) == {"tp": 2, "pred": 2, "gold": 7}  # count, dip, fold, 2+2
    assert structure_f1("There are five horizons, dipping to the left.", section) == 0.0
    assert structure_f1("", section) == 0.0


def test_description_facts_count_repeated_structures():
    facts = description_facts(parse_description("A normal fault dips to the left. A normal fault dips to the left."))
    assert facts[("fault", "normal", "left")] == 2
    assert sum(annotation_facts(SECTIONS[0]).values()) >= 2


def test_coordinate_questions_ask_for_fault_ends_with_json_answers():
    section = Section(horizons=(Horizon(0.3, 0.0, 0.0, 1.0),),
                      faults=(Fault("normal", "right", 0.2, 0.1, 0.3, 0.9, 0.05),
                              Fault("reverse", "left", 0.8, 0.2, 0.7, 0.8, 0.05)))
    questions = coordinate_questions(section)
    upper_left = next(q for q in questions if q.qtype == "fault_upper_end" and "left fault" in q.question)
    assert "upper end of the left fault" in upper_left.question
    assert json.loads(upper_left.answer) == {"x": 0.2, "y": 0.1}
    asked = {coordinate_question(section, seed).qtype for seed in range(20)}
    assert asked == {"fault_upper_end", "fault_lower_end"}  # a section with faults is asked about them
    alone = Section(horizons=(Horizon(0.3, 0.2, 0.0, 1.0),))
    assert json.loads(coordinate_question(alone, 0).answer) == {"x": 0.0, "y": 0.2}


def test_every_coordinate_answer_is_a_point_inside_the_image():
    for section in SECTIONS:
        for q in coordinate_questions(section):
            point = json.loads(q.answer)
            assert set(point) == {"x", "y"} and 0 <= point["x"] <= 1 and 0 <= point["y"] <= 1
