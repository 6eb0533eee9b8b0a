"""The synthetic scene world in one import: scenes, rendering, captions, descriptions, questions, corpus.

    from harness_plugins.scene.world import generate_scene, render, caption, describe, vqa_questions
    scene = generate_scene(7)                 # same seed, same scene
    image = render(scene)                     # RGB PIL image, scene.image_size square
    for question, answer, qtype in vqa_questions(scene, 7, n=3): ...

Imports no heavy library (PIL only inside :func:`render`).
"""
from __future__ import annotations

from .language import (
    COORDINATE_PROMPT,
    COORDINATE_TYPE,
    DEFAULT_CORPUS_MIX,
    DESCRIBE_PROMPT,
    PERCEPTION_TYPES,
    REASONING_TYPES,
    SHORT_ANSWER_HINT,
    VQA_TYPES,
    Question,
    ask,
    caption,
    coordinate_answer,
    coordinate_question,
    corpus,
    count_word,
    describe,
    parse_description,
    relation,
    vqa_questions,
)
from .model import (
    COLOURS,
    DEFAULT_IMAGE_SIZE,
    GENERATOR_VERSION,
    MAX_OBJECTS,
    SHAPES,
    SIZES,
    Scene,
    SceneObject,
    generate_scene,
    region_of,
    render,
)

__all__ = [
    "COLOURS", "COORDINATE_PROMPT", "COORDINATE_TYPE", "DEFAULT_CORPUS_MIX", "DEFAULT_IMAGE_SIZE",
    "DESCRIBE_PROMPT", "GENERATOR_VERSION", "MAX_OBJECTS", "PERCEPTION_TYPES", "REASONING_TYPES", "SHAPES",
    "SHORT_ANSWER_HINT", "SIZES", "VQA_TYPES", "Question", "Scene", "SceneObject", "ask", "caption",
    "coordinate_answer", "coordinate_question", "corpus", "count_word", "describe", "generate_scene",
    "parse_description", "region_of", "relation", "render", "vqa_questions",
]
