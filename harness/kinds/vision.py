"""The vision-encoder plugin kind: what a vision tower gives the harness (weights, features, processor).

Import-light: no torch, transformers or PIL at module level. One encoder family (say CLIP) is one
subclass; its variants (the ``tiny`` organism, real sizes) come from its model card. The LLaVA-1.5
conventions live here so every encoder follows them: features from ``feature_layer`` (the
second-to-last layer by default), patch tokens only (the CLS token dropped), images padded to a
square with the mean colour before resizing.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.kinds.card import CardBacked

if TYPE_CHECKING:
    from harness.model_cards import Variant


@dataclass(frozen=True)
class VisionInfo:
    """The facts a VLM composition needs about one loaded vision tower."""

    feature_dim: int  # width of each image token the projector receives
    num_image_tokens: int  # patch tokens per image (CLS dropped)
    image_size: int
    patch_size: int
    feature_layer: int  # index into the tower's hidden states (-2: second-to-last layer)
    select_strategy: str  # "default": drop CLS (LLaVA's name); "full": keep it
    weights: str  # the folder the tower was loaded from


class VisionEncoder(CardBacked, ABC):
    """One vision-encoder family: its model card, weights resolution, tower and image processor."""

    select_strategy: str = "default"

    @property
    def feature_layer(self) -> int:
        """Which hidden state feeds the projector (LLaVA-1.5: -2, the second-to-last layer)."""
        return int(self.card.facts.get("feature_layer", -2))

    def variant(self, name: str | None = None) -> Variant:
        """The model card's variant (one-line error naming the known ones when unknown)."""
        return self.card.variant(name)

    @abstractmethod
    def weights_dir(self, variant: str | None = None, path: str | Path | None = None) -> Path:
        """The folder ``from_pretrained`` loads: ``path`` if given, else the variant's packaged
        organism folder or its Hugging Face repository in the local cache. One-line error if absent."""

    @abstractmethod
    def load_model(self, variant: str | None = None, path: str | Path | None = None, dtype: str = "float32",
                   attn_implementation: str = "sdpa") -> Any:
        """The vision tower (a ``transformers`` vision model, eval mode) from :meth:`weights_dir`."""

    @abstractmethod
    def load_image_processor(self, variant: str | None = None, path: str | Path | None = None) -> Any:
        """A ``transformers`` image processor matching the tower: pad to square with the mean
        colour, resize, normalize."""

    @abstractmethod
    def info(self, variant: str | None = None, path: str | Path | None = None) -> VisionInfo:
        """Feature dim, number of image tokens and geometry, read from the weights' config."""

    def features(self, model: Any, pixel_values: Any) -> Any:
        """Image tokens as the VLM sees them: hidden state ``feature_layer``, CLS dropped.

        The same selection ``LlavaForConditionalGeneration`` makes with
        ``vision_feature_layer=-2`` and ``vision_feature_select_strategy="default"``.
        """
        out = model(pixel_values=pixel_values, output_hidden_states=True)
        hidden = out.hidden_states[self.feature_layer]
        return hidden[:, 1:] if self.select_strategy == "default" else hidden
