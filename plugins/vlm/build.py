"""Build a VLM from plugins: the backbone plugin's tokenizer + LLM, the vision plugin's tower +
processor, the chosen attention backend, composed by :func:`compose_llava`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.kinds.backbone import Backbone
from harness.kinds.vision import VisionEncoder

from .compose import compose_llava
from .zero3 import zero3_loading


@dataclass(frozen=True)
class BuiltVLM:
    """A composed model, its processor, and the attention backend it runs with (and why)."""

    model: Any
    processor: Any
    attention: str
    attention_reason: str


def compose_from_plugins(backbone: Backbone, vision: VisionEncoder, *, backbone_variant: str | None = None,
                         backbone_path: str | Path | None = None, vision_variant: str | None = None,
                         vision_path: str | Path | None = None, attn_implementation: str = "sdpa",
                         dtype: str = "float32", seed: int = 0,
                         zero3_config: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """Ask each plugin for its parts and compose them (``attn_implementation`` already registered).

    With a ZeRO-3 DeepSpeed ``zero3_config`` the weights are loaded and composed partitioned
    (``deepspeed.zero.Init``; collective: every rank calls this), in that config's dtype.
    """
    tokenizer = backbone.load_tokenizer(backbone_variant, backbone_path)
    with zero3_loading(zero3_config):
        llm = backbone.load_model(backbone_variant, backbone_path, dtype=dtype, attn_implementation=attn_implementation,
                                  tokenizer=tokenizer)
        tower = vision.load_model(vision_variant, vision_path, dtype=dtype, attn_implementation=attn_implementation)
    image_processor = vision.load_image_processor(vision_variant, vision_path)
    model, processor = compose_llava(llm, tokenizer, tower, image_processor, attn_implementation, dtype, seed=seed,
                                     select_strategy=vision.select_strategy, feature_layer=vision.feature_layer,
                                     zero3_config=zero3_config)
    # Generation stops where the chat format ends a turn (LLaMA-3's <|eot_id|>, not only EOS), also
    # for stock generate() on the saved checkpoint.
    eos = model.generation_config.eos_token_id
    eos = eos if isinstance(eos, list) else [] if eos is None else [eos]
    model.generation_config.eos_token_id = sorted(set(eos) | set(backbone.stop_token_ids(tokenizer)))
    return model, processor


def build_vlm(config: Any, device: Any = "cpu", dtype: str = "float32") -> BuiltVLM:
    """The VLM a resolved run config describes (``backbone.*``, ``vision.*``, ``attention``, ``seed``)."""
    from harness.lazy import load_ref
    from harness.plugin_manager import get_plugins
    from harness.attention import choose_attention

    plugins = get_plugins()
    bspec = plugins.registry("backbones").get(config.backbone.name)
    vspec = plugins.registry("vision").get(config.vision.name)
    backbone = load_ref(bspec.implementation)(bspec.model_card)
    vision = load_ref(vspec.implementation)(vspec.model_card)
    choice = choose_attention(config.attention, device)
    model, processor = compose_from_plugins(
        backbone, vision, backbone_variant=config.backbone.variant, backbone_path=config.backbone.path,
        vision_variant=config.vision.variant, vision_path=config.vision.path, attn_implementation=choice.name,
        dtype=dtype, seed=config.seed)
    return BuiltVLM(model.to(device), processor, choice.name, choice.reason)
