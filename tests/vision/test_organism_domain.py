"""Seismic sections are out of the vision organism's domain, as they were for CLIP (issue #17): the data
the CLIP organism is built from (the same function and seeds its build uses, every training and held-out
scene) holds no seismic section and no seismic vocabulary. The checks are shown to catch a seismic
section on the seismic world itself: its images are grey and its descriptions use that vocabulary."""
from __future__ import annotations

import re

import numpy as np
import pytest

from harness_plugins.vision.organism import ClipOrganismSpec, scene_samples

# Words a seismic description uses and a scene description never should.
SEISMIC_WORDS = {"horizon", "horizons", "fault", "faults", "salt", "channel", "dipping", "reflector"}


def _grey(image) -> bool:
    """Every pixel has R = G = B (a seismic section is a grey amplitude image)."""
    pixels = np.asarray(image.convert("RGB")).astype(int)
    return bool((pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all())


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


@pytest.fixture(scope="module")
def build_data():
    """Every image and text the CLIP organism's default build trains and is held out on (seed 0)."""
    spec = ClipOrganismSpec()
    images, texts, _ = scene_samples(spec.train_scenes, 0, "train")
    held_images, held_texts, _ = scene_samples(spec.heldout_scenes, 0, "heldout")
    return images + held_images, texts + held_texts


def test_the_checks_recognise_seismic_sections():
    from harness_plugins.seismic.world import describe, generate_section, render

    sections = [generate_section(seed) for seed in range(20)]
    assert all(_grey(render(s)) for s in sections)
    assert all(_words(describe(s)) & SEISMIC_WORDS for s in sections)


def test_the_vision_organisms_build_data_holds_no_seismic_section(build_data):
    images, texts = build_data
    assert len(images) == ClipOrganismSpec().train_scenes + ClipOrganismSpec().heldout_scenes
    grey = [i for i, image in enumerate(images) if _grey(image)]
    assert grey == [], f"{len(grey)} grey images (seismic-like) in the organism's build data, e.g. #{grey[:3]}"
    seismic = [t for t in texts if _words(t) & SEISMIC_WORDS]
    assert seismic == [], f"seismic vocabulary in the organism's build texts: {seismic[:2]}"
