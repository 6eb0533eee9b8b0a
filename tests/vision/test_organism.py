"""The tiny CLIP organism: built from the scene world, deterministic, shipped as a vision tower only."""
import hashlib
import json
from pathlib import Path

import pytest
import torch

from harness_plugins.vision.clip_encoder import ClipEncoder
from harness_plugins.vision.images import image_processor
from harness_plugins.vision.organism import build_clip_organism, pixel_values, scene_pairs


def digest(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def quick_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("organism") / "clip"
    build_clip_organism(out, seed=0, quick=True)
    return out


@pytest.mark.slow
def test_quick_build_ships_a_vision_tower_and_processor_only(quick_build):
    assert sorted(p.name for p in quick_build.iterdir()) == [
        "build.json", "config.json", "model.safetensors", "preprocessor_config.json"]
    assert json.loads((quick_build / "config.json").read_text())["model_type"] == "clip_vision_model"
    info = ClipEncoder().info(path=quick_build)
    assert (info.num_image_tokens, info.image_size, info.patch_size) == (64, 64, 8)


@pytest.mark.slow
def test_quick_build_is_deterministic_for_a_seed(quick_build, tmp_path):
    build_clip_organism(tmp_path / "again", seed=0, quick=True)
    assert digest(tmp_path / "again") == digest(quick_build)


@pytest.mark.slow
def test_build_record_names_command_seed_and_size(quick_build):
    record = json.loads((quick_build / "build.json").read_text())
    assert record["seed"] == 0 and record["mode"] == "quick"
    assert record["command"] == "harness organisms build --only clip --quick --seed 0"
    assert record["weights_bytes"] == (quick_build / "model.safetensors").stat().st_size


def test_fast_pixel_path_equals_the_image_processor():
    images, _ = scene_pairs(4, seed=0, stream="test")
    processor = image_processor(64)
    expected = processor(images=images, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(pixel_values(images, processor, 64), expected, atol=1e-5, rtol=0)


def test_packaged_organism_is_the_default_clip_and_learned_the_scenes():
    clip = ClipEncoder()
    folder = clip.weights_dir()
    record = json.loads((folder / "build.json").read_text())
    assert record["mode"] == "full"
    # Held-out image -> description retrieval among 256 pairs: chance is 1/256.
    assert record["training"]["heldout_retrieval_top1"] > 10 / 256
    model = clip.load_model()
    pixels = pixel_values(scene_pairs(2, seed=1, stream="test")[0], clip.load_image_processor(), 64)
    with torch.no_grad():
        assert clip.features(model, pixels).shape == (2, 64, clip.info().feature_dim)
