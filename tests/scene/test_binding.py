"""The perceive-or-bind split (harness_plugins.scene.binding) on the scene world's own questions: a reader
that binds, one that names a random value of the image, and one blind to the attribute land where the
split says they should."""
import json
import random

import pytest

from harness_plugins.scene.binding import ATTRIBUTES, binding_split
from harness_plugins.scene.world import generate_scene, vqa_questions


def _items(qtype: str, count: int = 400) -> list[tuple[str, str, str]]:
    """(answer, scene JSON as the datasets store it, the scene's values of the attribute) per question."""
    rng = random.Random(7)
    out = []
    while len(out) < count:
        scene = generate_scene(rng)
        for q in vqa_questions(scene, rng, 1, qtypes=(qtype,)):
            values = sorted({getattr(o, ATTRIBUTES[qtype][0]) for o in scene.objects})
            out.append((q.answer, json.dumps(scene.to_dict()), values))
    return out


@pytest.mark.parametrize("qtype", ["colour", "shape"])
def test_a_reader_that_binds_is_right_everywhere(qtype):
    split = binding_split(((answer, answer, scene) for answer, scene, _ in _items(qtype)), qtype)
    assert split.single_n > 0 and split.multi_n > 0
    assert (split.single_hits, split.multi_hits, split.in_image) == (split.single_n, split.multi_n, split.n)
    assert split.multi_chance < 0.7  # several objects leave room above chance


@pytest.mark.parametrize("qtype", ["colour", "shape"])
def test_a_reader_that_names_a_random_value_of_the_image_sits_on_the_binding_chance(qtype):
    rng = random.Random(0)
    split = binding_split(((rng.choice(values), answer, scene) for answer, scene, values in _items(qtype, 3000)), qtype)
    assert split.in_image == split.n
    assert split.single_hits == split.single_n  # one object: nothing to bind
    assert split.multi_hits / split.multi_n == pytest.approx(split.multi_chance, abs=0.03)


def test_a_reader_blind_to_colour_sits_on_the_in_image_chance():
    rng = random.Random(0)
    every = ATTRIBUTES["colour"][1]
    split = binding_split(((rng.choice(every), answer, scene) for answer, scene, _ in _items("colour", 3000)), "colour")
    assert split.in_image / split.n == pytest.approx(split.in_image_chance, abs=0.03)
    assert split.in_image_chance < 0.8


def test_only_colour_and_shape_questions_have_a_split():
    with pytest.raises(ValueError, match="count"):
        binding_split([], "count")
