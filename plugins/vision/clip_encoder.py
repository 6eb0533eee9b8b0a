"""CLIP vision towers (the tiny organism, ViT-L/14-336, ViT-L/14) as LLaVA-1.5 uses them."""
from __future__ import annotations

from harness.kinds.hf_vision import HFVisionEncoder


class ClipEncoder(HFVisionEncoder):
    """OpenAI CLIP's vision tower: a CLS token then one token per patch."""

    card_name = "clip"
    model_types = ("clip", "clip_vision_model")
    config_class = "CLIPVisionConfig"
    model_class = "CLIPVisionModel"
    has_cls_token = True
