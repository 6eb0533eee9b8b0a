"""Light descriptors that plugins register, one dataclass per plugin kind.

Descriptors hold names, data and lazy ``"module:attr"`` references only, so listing plugins and
resolving a configuration never import torch, transformers, deepspeed or lmms-eval. The object
behind a reference is imported by :func:`harness.lazy.load_ref` when it is used.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BackboneSpec:
    """An LLM family: its model card (variants, facts, chat format) and its implementation."""

    name: str
    model_card: str  # a card name in model_cards/ (e.g. "llama3") or a path to a YAML file
    implementation: str  # "module:attr" of the class implementing harness.kinds.backbone.Backbone
    default_variant: str = "tiny"
    description: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class VisionSpec:
    """A vision tower: its model card and the implementation of harness.kinds.vision.VisionEncoder."""

    name: str
    model_card: str
    implementation: str
    default_variant: str = "tiny"
    description: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecipeSpec:
    """A training procedure.

    ``settings`` is a dataclass *class* (import-light) whose fields become ``recipe.*`` config
    keys. ``profiles`` maps a profile name to dotted overrides of those settings; the config key
    ``recipe.profile=auto`` picks ``"organism"`` for organism (tiny) backbones and ``"full"``
    otherwise, when the recipe defines them.
    """

    name: str
    settings: type
    implementation: str  # "module:attr" of the callable that trains: fn(config, run_dir) -> checkpoint dir
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""
    aliases: tuple[str, ...] = ()
    # "module:attr" of validate(config, world_size) -> None: raises HarnessError for settings that cannot
    # train (batch arithmetic, a bad DeepSpeed JSON...). Called before anything is written, and by --dry-run.
    validate: str | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A benchmark evaluated through lmms-eval.

    ``lmms_tasks`` are lmms-eval task names; ``include_path`` is a folder of lmms-eval task YAML
    (``None`` for tasks lmms-eval ships). ``data`` tells where the data comes from: ``"scene"``
    for the synthetic scene world built on first use, ``"lmms-eval"`` for lmms-eval's own
    download, or a path. ``defaults`` are dotted config overrides applied in the task layer.
    ``prepare`` is a "module:attr" of ``prepare(config) -> dict[str, dict]`` that makes the task's
    data ready (e.g. builds the scene world on first use, or checks ``task.data``) and returns, per
    lmms-eval task, YAML keys to override (e.g. ``{"vqa_scene": {"dataset_path": "..."}}``).
    """

    name: str
    lmms_tasks: tuple[str, ...]
    primary_metric: str
    higher_is_better: bool = True
    include_path: str | None = None
    data: str = "lmms-eval"
    capability_tags: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    prepare: str | None = None
    description: str = ""


@dataclass(frozen=True)
class AttentionSpec:
    """An attention implementation for the hot path.

    ``implementation`` is a "module:attr" of a function ``register() -> str`` that registers the
    kernel with transformers' ``AttentionInterface`` and returns the ``attn_implementation`` name.
    ``availability`` is a "module:attr" of ``available(device) -> tuple[bool, str]`` (reason).
    ``priority``: higher wins for ``attention=auto`` among the available ones.
    """

    name: str
    implementation: str
    availability: str | None = None
    priority: int = 0
    description: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnalysisSpec:
    """A comparison across runs for ``harness compare``.

    ``needs`` names per-sample data the runs must have saved (``"confidence"``,
    ``"hidden_states"``), so the command can say which flag to rerun with.
    """

    name: str
    implementation: str
    needs: tuple[str, ...] = ()
    description: str = ""
    aliases: tuple[str, ...] = ()


KINDS: dict[str, tuple[type, str]] = {
    # kind name (CLI)  -> (descriptor class, hook name)
    "backbones": (BackboneSpec, "register_backbones"),
    "vision": (VisionSpec, "register_vision_encoders"),
    "recipes": (RecipeSpec, "register_recipes"),
    "tasks": (TaskSpec, "register_tasks"),
    "attention": (AttentionSpec, "register_attention_backends"),
    "analyses": (AnalysisSpec, "register_analyses"),
}
