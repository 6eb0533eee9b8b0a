"""Entry-point module of the built-in ``clip`` vision plugin (import-light: descriptors only)."""
import harness
from harness.specs import VisionSpec


@harness.hookimpl
def register_vision_encoders(register):
    register(VisionSpec(
        name="clip", model_card="clip", implementation="harness_plugins.vision.clip_encoder:ClipEncoder",
        default_variant="tiny",
        description="OpenAI CLIP vision tower: tiny organism, ViT-L/14-336, ViT-L/14 (layer -2, patch tokens)",
    ))
