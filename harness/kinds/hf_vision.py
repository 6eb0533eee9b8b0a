"""A vision encoder backed by a ``transformers`` vision model class: weights folder, config facts,
tower and processor. A family (CLIP, SigLIP, or a third party's) is a small subclass naming its classes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.kinds.images import processor_from_folder
from harness.kinds.vision import VisionEncoder, VisionInfo
from harness.model_folders import load_pretrained, read_config, variant_folder


class HFVisionEncoder(VisionEncoder):
    """Loads ``model_class`` (a transformers vision tower) with ``from_pretrained``."""

    model_types: tuple[str, ...]  # config.json model_type values this family accepts
    config_class: str  # transformers class names, imported on use
    model_class: str
    has_cls_token: bool = True

    @property
    def select_strategy(self) -> str:  # type: ignore[override]
        # LLaVA's "default" drops the first token, right only for towers that prepend a CLS token.
        return "default" if self.has_cls_token else "full"

    def weights_dir(self, variant: str | None = None, path: str | Path | None = None) -> Path:
        folder = variant_folder(self.card.name, self.variant(variant), path, "vision.path", "vision", self.card.access)
        model_type = read_config(folder, "vision.path").get("model_type")
        if model_type not in self.model_types:
            raise HarnessError(
                f"{folder / 'config.json'} is a {model_type!r} model, not {self.card.name}",
                f"point vision.path at a {self.card.name} checkpoint (model_type {' or '.join(self.model_types)})"
                f" or pick the vision encoder that matches it",
            )
        return folder

    def vision_config(self, variant: str | None = None, path: str | Path | None = None) -> Any:
        """The tower's transformers config (the vision part of a full two-tower checkpoint)."""
        import transformers

        return getattr(transformers, self.config_class).from_pretrained(str(self.weights_dir(variant, path)))

    def load_model(self, variant: str | None = None, path: str | Path | None = None, dtype: str = "float32",
                   attn_implementation: str = "sdpa") -> Any:
        import torch
        import transformers

        folder = self.weights_dir(variant, path)
        model = load_pretrained(lambda: getattr(transformers, self.model_class).from_pretrained(
            str(folder), dtype=getattr(torch, dtype), attn_implementation=attn_implementation), folder, "vision.path")
        return model.eval()

    def load_image_processor(self, variant: str | None = None, path: str | Path | None = None) -> Any:
        folder = self.weights_dir(variant, path)
        return processor_from_folder(folder, int(self.vision_config(variant, path).image_size))

    def info(self, variant: str | None = None, path: str | Path | None = None) -> VisionInfo:
        cfg = self.vision_config(variant, path)
        return VisionInfo(
            feature_dim=int(cfg.hidden_size), num_image_tokens=(cfg.image_size // cfg.patch_size) ** 2,
            image_size=int(cfg.image_size), patch_size=int(cfg.patch_size), feature_layer=self.feature_layer,
            select_strategy=self.select_strategy, weights=str(self.weights_dir(variant, path)),
        )
