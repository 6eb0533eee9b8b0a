"""A second vision family (SigLIP, no CLS token) composes through the same code."""
import pytest
import torch
from transformers import LlavaForConditionalGeneration, SiglipVisionConfig, SiglipVisionModel

from harness.errors import HarnessError
from harness_plugins.vision.siglip_encoder import SiglipEncoder
from harness_plugins.vlm.build import compose_from_plugins
from harness_plugins.vlm.compose import save_llava

from test_build_from_plugins import FolderBackbone


def siglip_dir(tmp_path):
    torch.manual_seed(0)
    config = SiglipVisionConfig(hidden_size=24, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
                                image_size=32, patch_size=8)
    out = tmp_path / "siglip"
    SiglipVisionModel(config).save_pretrained(out)
    return out


def test_siglip_keeps_every_patch_token_and_round_trips(llm_dir, tokenizer_dir, tmp_path):
    folder = siglip_dir(tmp_path)
    siglip = SiglipEncoder()
    assert (siglip.info(path=folder).num_image_tokens, siglip.select_strategy) == (16, "full")
    model, processor = compose_from_plugins(FolderBackbone(llm_dir, tokenizer_dir), siglip, vision_path=folder,
                                            attn_implementation="eager")
    from PIL import Image

    batch = processor(images=Image.new("RGB", (32, 32), (9, 9, 9)), text="<image> what is the circle ?",
                      return_tensors="pt")
    assert int((batch["input_ids"] == model.config.image_token_index).sum()) == 16
    with torch.no_grad():
        before = model(**batch).logits
    reloaded = LlavaForConditionalGeneration.from_pretrained(save_llava(model, processor, tmp_path / "vlm"),
                                                             attn_implementation="eager")
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, before, rtol=0, atol=0)


def test_siglip_real_variant_absent_is_a_one_line_error(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(HarnessError, match="google/siglip-so400m-patch14-384") as info:
        SiglipEncoder().weights_dir()
    assert "\n" not in str(info.value)
