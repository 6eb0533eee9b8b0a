"""The clip vision plugin: weights resolution, tower, LLaVA-1.5 features and processor, bad input."""
import json
import subprocess
import sys

import pytest
import torch
from PIL import Image

from harness.errors import HarnessError
from harness_plugins.vision.clip_encoder import ClipEncoder
from harness_plugins.vision.images import CLIP_MEAN, CLIP_STD, load_image

clip = ClipEncoder()


@pytest.mark.parametrize("module", ["harness_plugins.vision.clip", "harness_plugins.vision.siglip"])
def test_entry_point_module_imports_no_heavy_library(module):
    code = (f"import sys, {module}; "
            "print([m for m in ('torch', 'transformers', 'PIL') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_entry_point_registers_clip_with_tiny_default():
    from harness_plugins.vision import clip as entry

    specs = []
    entry.register_vision_encoders(register=specs.append)
    assert [(s.name, s.default_variant) for s in specs] == [("clip", "tiny")]


def test_info_reads_feature_dim_and_patch_tokens_from_the_weights(clip_vision_dir):
    info = clip.info(path=clip_vision_dir)
    assert (info.feature_dim, info.num_image_tokens, info.feature_layer, info.select_strategy) == (24, 16, -2, "default")


def test_features_are_layer_minus_two_patch_tokens(clip_vision_dir):
    model = clip.load_model(path=clip_vision_dir)
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = clip.features(model, pixels)
        hidden = model(pixel_values=pixels, output_hidden_states=True).hidden_states
    assert features.shape == (2, 16, 24)
    assert torch.equal(features, hidden[-2][:, 1:]) and not torch.equal(features, hidden[-1][:, 1:])


def test_two_tower_clip_folder_loads_its_vision_tower(clip_two_tower_dir):
    from transformers import CLIPModel

    tower = clip.load_model(path=clip_two_tower_dir)
    full = CLIPModel.from_pretrained(clip_two_tower_dir)
    assert torch.equal(tower.state_dict()["embeddings.patch_embedding.weight"],
                       full.vision_model.embeddings.patch_embedding.weight)


def test_processor_pads_to_square_with_the_mean_colour(clip_vision_dir):
    processor = clip.load_image_processor(path=clip_vision_dir)
    image = Image.new("RGB", (64, 32), (255, 0, 0))  # wide: padded top and bottom
    pixels = processor(images=image, return_tensors="pt")["pixel_values"][0]
    assert pixels.shape == (3, 32, 32)
    mean_colour = torch.tensor([int(m * 255) / 255 for m in CLIP_MEAN])
    expected_pad = (mean_colour - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    torch.testing.assert_close(pixels[:, 0, 16], expected_pad, atol=1e-2, rtol=0)  # top rows: padding
    red = (torch.tensor([1.0, 0.0, 0.0]) - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    torch.testing.assert_close(pixels[:, 16, 16], red, atol=1e-2, rtol=0)  # centre: the image


def test_processor_uses_the_checkpoints_own_statistics(clip_vision_dir):
    (clip_vision_dir / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}))
    processor = clip.load_image_processor(path=clip_vision_dir)
    assert list(processor.image_mean) == [0.5, 0.5, 0.5] and processor.do_pad


def test_unknown_variant_is_a_one_line_error_with_the_known_ones():
    with pytest.raises(HarnessError, match="no variant 'vit-l-15'.*did you mean") as info:
        clip.weights_dir("vit-l-15")
    assert "\n" not in str(info.value) and "vit-l-14-336" in str(info.value)


def test_real_variant_absent_from_the_cache_says_where_it_looked_and_how_to_point(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(HarnessError) as info:
        clip.weights_dir("vit-l-14-336")
    message = str(info.value)
    assert "vit-l-14-336" in message and "openai/clip-vit-large-patch14-336" in message
    assert str(tmp_path / "empty-cache") in message and "vision.path=" in message


def test_vision_path_that_is_not_a_model_directory(tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(HarnessError, match=r"vision.path .*notes is not a model directory \(no config.json\)"):
        clip.weights_dir(path=tmp_path / "notes")


def test_vision_path_that_does_not_exist(tmp_path):
    with pytest.raises(HarnessError, match="does not exist"):
        clip.weights_dir(path=tmp_path / "missing")


def test_vision_path_holding_another_architecture(tmp_path):
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "llama" / "model.safetensors").write_bytes(b"")
    with pytest.raises(HarnessError, match="is a 'llama' model, not clip"):
        clip.weights_dir(path=tmp_path / "llama")


def test_undecodable_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(HarnessError, match=r"image .*broken.png cannot be decoded") as info:
        load_image(bad)
    assert "\n" not in str(info.value)


def test_truncated_image_names_the_file(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:60])
    with pytest.raises(HarnessError, match="cut.png cannot be decoded"):
        load_image(cut)


def test_missing_image_names_the_file(tmp_path):
    with pytest.raises(HarnessError, match="nothere.jpg does not exist"):
        load_image(tmp_path / "nothere.jpg")
