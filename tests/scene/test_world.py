"""The scene world: seeded scenes, rendering, texts and questions agree with the annotation."""
import json
import random

import pytest

from harness_plugins.scene.world import (
    COLOURS,
    PERCEPTION_TYPES,
    REASONING_TYPES,
    VQA_TYPES,
    Scene,
    ask,
    caption,
    coordinate_question,
    corpus,
    describe,
    generate_scene,
    parse_description,
    render,
    vqa_questions,
)


def test_same_seed_gives_same_scene_and_image():
    a, b = generate_scene(11), generate_scene(11)
    assert a == b
    assert render(a).tobytes() == render(b).tobytes()
    assert generate_scene(12) != a


def test_scene_has_one_to_six_objects_with_unique_colour_and_shape():
    for seed in range(300):
        scene = generate_scene(seed)
        assert 1 <= len(scene.objects) <= 6
        names = [o.name for o in scene.objects]
        assert len(set(names)) == len(names)
        for o in scene.objects:
            x0, y0, x1, y1 = o.bbox
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1


def test_n_objects_range_is_respected_and_checked():
    assert all(len(generate_scene(s, n_objects=(3, 3)).objects) == 3 for s in range(20))
    with pytest.raises(ValueError):
        generate_scene(0, n_objects=(0, 7))


def test_overlap_flag_matches_bounding_boxes():
    def intersect(a, b):
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    seen = set()
    for seed in range(300):
        scene = generate_scene(seed)
        for o in scene.objects:
            expected = any(intersect(o.bbox, p.bbox) for p in scene.objects if p is not o)
            assert o.overlaps == expected
            seen.add(o.overlaps)
    assert seen == {True, False}


def test_render_is_rgb_of_the_configured_size_and_shows_the_object_colour():
    scene = generate_scene(3, n_objects=(1, 1), image_size=96)
    image = render(scene)
    assert image.mode == "RGB" and image.size == (96, 96)
    obj = scene.objects[0]
    centre = image.getpixel((int(obj.x * 96), int(obj.y * 96)))
    assert max(abs(c - e) for c, e in zip(centre, COLOURS[obj.colour])) < 40


def test_scene_round_trips_through_dict():
    scene = generate_scene(5)
    assert Scene.from_dict(json.loads(json.dumps(scene.to_dict()))) == scene


def test_description_parses_back_to_the_annotation():
    for seed in range(100):
        scene = generate_scene(seed)
        parsed = parse_description(describe(scene))
        expected = [{"size": o.size, "colour": o.colour, "shape": o.shape, "region": o.region}
                    for o in scene.objects]
        assert parsed == expected


def test_caption_names_every_object():
    scene = generate_scene(9)
    text = caption(scene)
    assert all(o.name in text for o in scene.objects)
    assert len(text.split()) <= 3 * len(scene.objects) + 3


def test_count_answers_are_true_for_the_scene():
    rng = random.Random(0)
    for _ in range(200):
        scene = generate_scene(rng)
        q = ask(scene, "count", rng)
        if q.question == "How many objects are there?":
            assert q.answer == str(len(scene.objects))
        else:
            word = q.question.split()[2]
            n = sum(o.colour == word or f"{o.shape}s" == word for o in scene.objects)
            assert q.answer == str(n)


def test_exists_answers_are_true_for_the_scene():
    rng = random.Random(1)
    answers = set()
    for _ in range(200):
        scene = generate_scene(rng)
        q = ask(scene, "exists", rng)
        colour, shape = q.question.split()[3:5]
        assert q.answer == ("yes" if scene.find(colour, shape) else "no")
        answers.add(q.answer)
    assert answers == {"yes", "no"}


def test_every_question_type_is_generated_and_typed():
    rng = random.Random(2)
    types = {q.qtype for _ in range(200) for q in vqa_questions(generate_scene(rng), rng, 4)}
    assert types == set(VQA_TYPES) == set(PERCEPTION_TYPES) | set(REASONING_TYPES)


def test_questions_unpack_as_triples():
    question, answer, qtype = vqa_questions(generate_scene(4), 4, n=1)[0]
    assert question.endswith("?") and answer and qtype in VQA_TYPES


def test_coordinate_answer_is_json_of_the_normalised_centre():
    scene = generate_scene(8)
    q = coordinate_question(scene, 8)
    centre = json.loads(q.answer)
    named = next(o for o in scene.objects if o.name in q.question)
    assert centre == {"x": round(named.x, 2), "y": round(named.y, 2)}
    assert q.qtype == "coordinate"


def test_corpus_is_deterministic_and_mixes_kinds():
    docs = list(corpus(0, 200))
    assert docs == list(corpus(0, 200))
    assert docs != list(corpus(1, 200))
    text = " ".join(docs)
    for marker in ("There are", "Question:", " = ", '{"x":', "to the left of"):
        assert marker in text


def test_corpus_mix_can_leave_a_kind_out_and_rejects_unknown_kinds():
    docs = list(corpus(0, 100, mix={"description": 1, "json": 0}))
    assert all(d.startswith("There") for d in docs)
    with pytest.raises(ValueError):
        list(corpus(0, 1, mix={"poetry": 1}))
