"""Perceive or bind? Splits a VLM's colour and shape answers by what they say about the image.

"What colour is the circle?" needs two things: seeing the colours in the image (perception) and
taking the colour of the object the question names (binding). The exact match of a question type
mixes them; three numbers per type pull them apart:

* **one object**: accuracy on scenes with a single object, where there is nothing to bind: a VLM
  that perceives the attribute gets these right;
* **several objects**: accuracy on the other scenes, beside the chance of naming a random one of the
  attribute's values present in the image (``1 / distinct values``, averaged): a VLM that perceives
  but does not bind sits on that chance, one that binds rises above it;
* **in the image**: how often the answer names a value the image holds at all, beside the chance of a
  random value of the attribute doing so (``distinct values in the image / all values``, averaged):
  a VLM blind to the attribute sits near that chance.

Measured on the miniature (README, "What the miniature shows"): the VLMs' colour answers name a colour
of the image but not the asked object's: perception without binding.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness_plugins.scene.metrics import normalize_answer
from harness_plugins.scene.model import COLOURS, SHAPES

#: Question type -> the object field its answer names and all the values that field takes.
ATTRIBUTES: dict[str, tuple[str, tuple[str, ...]]] = {"colour": ("colour", tuple(COLOURS)),
                                                      "shape": ("shape", SHAPES)}


@dataclass(frozen=True)
class BindingSplit:
    """One question type's answers split by scene size (hits by the scene tasks' exact match)."""

    qtype: str
    single_hits: float
    single_n: int
    multi_hits: float
    multi_n: int
    multi_chance: float  # expected accuracy of naming a random value present in the image, multi-object scenes
    in_image: int
    in_image_chance: float  # how often a random value of the attribute is one the image holds
    n: int


def scene_objects(scene: Mapping[str, Any] | str) -> list[Mapping[str, Any]]:
    """The objects of a stored scene annotation (the datasets' JSON ``scene`` column, or its dict)."""
    return list((json.loads(scene) if isinstance(scene, str) else scene)["objects"])


def binding_split(items: Iterable[tuple[str, str, Mapping[str, Any] | str]], qtype: str) -> BindingSplit:
    """Split ``(prediction, answer, scene)`` items of one question type (``colour`` or ``shape``)."""
    if qtype not in ATTRIBUTES:
        raise ValueError(f"no binding split for {qtype!r} questions: one of {', '.join(ATTRIBUTES)}")
    field, every = ATTRIBUTES[qtype]
    single_hits = multi_hits = multi_chance = in_image_chance = 0.0
    single_n = multi_n = in_image = n = 0
    for prediction, answer, scene in items:
        objects = scene_objects(scene)
        values = {normalize_answer(str(o[field])) for o in objects}
        said = normalize_answer(prediction)
        hit = float(said == normalize_answer(answer))
        n += 1
        in_image += said in values
        in_image_chance += len(values) / len(every)
        if len(objects) == 1:
            single_n += 1
            single_hits += hit
        else:
            multi_n += 1
            multi_hits += hit
            multi_chance += 1 / len(values)
    return BindingSplit(qtype, single_hits, single_n, multi_hits, multi_n,
                        multi_chance / multi_n if multi_n else float("nan"), in_image,
                        in_image_chance / n if n else float("nan"), n)
