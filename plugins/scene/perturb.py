"""Perturbed copies of the ``vqa_scene`` evaluation set, for representation-stability analyses.

Doc ``i`` of each set is doc ``i`` of ``vqa_scene`` with one small change and the same answer:

- ``pixel_noise``: every channel of every pixel moves by Gaussian noise of standard deviation
  :data:`NOISE_SIGMA` intensity levels (out of 255), clipped; seeded per item. Shapes and colours
  stay unambiguous to a person.
- ``paraphrase``: the question is reworded by a fixed rule per question form ("What colour is
  the X?" -> "Which colour does the X have?"); the answer-format hint stays the same.
"""
from __future__ import annotations

import random
import re
from typing import Any

NOISE_SIGMA = 6.0
PERTURBATIONS: tuple[str, ...] = ("pixel_noise", "paraphrase")

# (pattern, replacement) tried in order; the first match rewrites the question.
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"^What (colour|shape) is the (.+)\?$", r"Which \1 does the \2 have?"),
    (r"^Is there (an?) (.+) in the image\?$", r"Does the image contain \1 \2?"),
    (r"^How many (.+) are there\?$", r"What is the number of \1 in the image?"),
    (r"^How many (.+?) are (.+)\?$", r"What is the number of \1 \2?"),
    (r"^Is the (.+) larger than the (.+)\?$", r"Is the \1 bigger than the \2?"),
    (r"^Are there more (.+) than (.+)\?$", r"Do the \1 outnumber the \2?"),
    (r"^Are there as many (.+) as (.+)\?$", r"Is the number of \1 equal to the number of \2?"),
    (r"^Is the (.+) to the left, right, above or below the (.+)\?$",
     r"Where is the \1 relative to the \2: left, right, above or below?"),
    (r"^Is the (.+?) (to the left of|to the right of|above|below) the (.+)\?$", r"Is it true that the \1 is \2 the \3?"),
))


def paraphrase(question: str) -> str:
    """The question in other words, same meaning; questions of no known form get a lead-in."""
    for pattern, replacement in _REWRITES:
        if pattern.match(question):
            return pattern.sub(replacement, question)
    return f"Looking at the image: {question}"


def paraphrase_prompt(prompt: str) -> str:
    """A VQA prompt (question, newline, answer hint) with its question paraphrased."""
    question, sep, hint = prompt.partition("\n")
    return paraphrase(question) + sep + hint


def pixel_noise(image: Any, seed: int) -> Any:
    """``image`` (RGB PIL) with seeded Gaussian noise of :data:`NOISE_SIGMA` levels per channel."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image, dtype=np.float32)
    noise = np.random.default_rng(seed).normal(0.0, NOISE_SIGMA, size=pixels.shape)
    return Image.fromarray(np.clip(np.rint(pixels + noise), 0, 255).astype(np.uint8), "RGB")


def perturbed_rows(rows: list[dict[str, Any]], perturbation: str, seed: int) -> list[dict[str, Any]]:
    """Copies of ``vqa_scene`` rows, in the same order, with ``perturbation`` applied."""
    out = []
    for index, row in enumerate(rows):
        row = dict(row)
        if perturbation == "pixel_noise":
            row["image"] = pixel_noise(row["image"], random.Random(f"{seed}-{index}").getrandbits(32))
        elif perturbation == "paraphrase":
            row["prompt"] = paraphrase_prompt(row["prompt"])
        else:
            raise ValueError(f"unknown perturbation {perturbation!r}")
        out.append(row)
    return out
