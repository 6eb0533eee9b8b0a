"""The synthetic seismic world in one import: sections, rendering, descriptions, coordinate questions.

    from harness_plugins.seismic.world import generate_section, render, describe, coordinate_question
    section = generate_section(7)            # same seed, same section (annotation)
    image = render(section)                  # RGB PIL image, section.image_size square (grey amplitudes)
    describe(section)                        # 'There are four horizons, dipping to the right. ...'
    coordinate_question(section, 7)          # ('Give the lower end of the normal fault as JSON ...',
                                             #  '{"x": 0.46, "y": 0.84}', 'fault_lower_end')

Importing this module imports numpy (for :mod:`.render`); :mod:`.model` and :mod:`.language` alone are
pure Python.
"""
from __future__ import annotations

from .language import (
    COORDINATE_PROMPT,
    COORDINATE_TYPES,
    DESCRIBE_PROMPT,
    DESCRIPTION_TYPE,
    Question,
    annotation_facts,
    annotation_structures,
    coordinate_question,
    coordinate_questions,
    describe,
    description_facts,
    parse_description,
)
from .model import (
    BODY_KINDS,
    DEFAULT_IMAGE_SIZE,
    FAULT_TYPES,
    GENERATOR_VERSION,
    Body,
    Fault,
    Horizon,
    Section,
    generate_section,
)
from .render import amplitude, render

__all__ = [
    "BODY_KINDS", "COORDINATE_PROMPT", "COORDINATE_TYPES", "DEFAULT_IMAGE_SIZE", "DESCRIBE_PROMPT",
    "DESCRIPTION_TYPE", "FAULT_TYPES", "GENERATOR_VERSION", "Body", "Fault", "Horizon", "Question", "Section",
    "amplitude", "annotation_facts", "annotation_structures", "coordinate_question", "coordinate_questions",
    "describe", "description_facts", "generate_section", "parse_description", "render",
]
