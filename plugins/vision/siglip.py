"""Entry-point module of the ``siglip`` vision plugin (import-light: descriptors only)."""
from pathlib import Path

import harness
from harness.specs import VisionSpec


@harness.hookimpl
def register_vision_encoders(register):
    register(VisionSpec(
        name="siglip", model_card=str(Path(__file__).with_name("siglip.yaml")),
        implementation="harness_plugins.vision.siglip_encoder:SiglipEncoder",
        default_variant="so400m-patch14-384",
        description="Google SigLIP vision tower by path or HF cache (layer -2, all tokens: no CLS)",
    ))
