"""SigLIP vision towers: the second vision family, one small file (no CLS token: keep every token)."""
from __future__ import annotations

from pathlib import Path

from harness.kinds.hf_vision import HFVisionEncoder

CARD = str(Path(__file__).with_name("siglip.yaml"))  # the card ships beside the plugin


class SiglipEncoder(HFVisionEncoder):
    """Google SigLIP's vision tower, features from layer -2, all patch tokens."""

    card_name = CARD
    model_types = ("siglip", "siglip_vision_model")
    config_class = "SiglipVisionConfig"
    model_class = "SiglipVisionModel"
    has_cls_token = False
