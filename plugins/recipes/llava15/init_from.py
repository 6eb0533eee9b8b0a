"""Starting a training from an exported VLM (``recipe.init_from``).

LLaVA's own practice for continued finetuning (its "finetune on custom data" starts from a released
LLaVA-1.5 checkpoint) and what a curriculum needs: one training's export, every weight of it (projector,
LLM, the frozen vision tower), is where the next training's first stage after align begins (the finetune,
or the perceive stage with ``data.perceive``). The align stage is then skipped, since its only product, the
projector, comes from the checkpoint.

:func:`check` runs in the recipe's ``validate`` (no model is loaded); :func:`load_into` loads the weights
into that stage's freshly composed model, also under ZeRO-3.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError

KEY = "recipe.init_from"
FIX = "start from a checkpoint of this run's backbone and vision, or drop recipe.init_from"


def folder(value: str) -> Path:
    """The checkpoint folder ``recipe.init_from`` names (a model/ folder or a harness run directory)."""
    from harness.evaluation.checkpoint import checkpoint_named_by

    return checkpoint_named_by(KEY, value)


def _same_path(a: Any, b: Any) -> bool:
    if not a or not b:
        return not a and not b
    return Path(str(a)).expanduser().resolve() == Path(str(b)).expanduser().resolve()


def check(config: Any) -> None:
    """A one-line error when ``recipe.init_from`` is no LLaVA checkpoint, or when the harness run that
    exported it composed another backbone or vision encoder (name, variant or weights folder)."""
    import json

    path = folder(config.recipe.init_from)
    meta_file = path / "harness.json"
    trained = json.loads(meta_file.read_text(encoding="utf-8")).get("config") if meta_file.is_file() else None
    if not isinstance(trained, dict):
        return  # not a harness export: the weights' shapes are checked when they load
    for section in ("backbone", "vision"):
        theirs, ours = trained.get(section) or {}, getattr(config, section)
        if (theirs.get("name"), theirs.get("variant")) != (ours.name, ours.variant) or not _same_path(
                theirs.get("path"), ours.path):
            raise HarnessError(
                f"{KEY}={config.recipe.init_from} was trained with {section} {theirs.get('name')} "
                f"({theirs.get('path') or theirs.get('variant')}), this run composes {ours.name} "
                f"({ours.path or ours.variant})", FIX)


def load_into(model: Any, path: Path) -> None:
    """Every parameter of ``model`` from the checkpoint in ``path`` (collective under ZeRO-3: each parameter
    gathered, written on rank 0, re-partitioned; every rank reads the checkpoint into host memory once).
    One line when the checkpoint lacks a parameter or has another shape."""
    import torch
    from transformers import LlavaForConditionalGeneration

    from harness.model_folders import load_pretrained
    from harness_plugins.vlm.zero3 import copy_into

    source = load_pretrained(lambda: LlavaForConditionalGeneration.from_pretrained(path, dtype=torch.float32),
                             path, KEY)
    weights = source.state_dict()
    params = dict(model.named_parameters())
    for name, param in params.items():
        shape = tuple(getattr(param, "ds_shape", param.shape))
        if name not in weights or tuple(weights[name].shape) != shape:
            found = tuple(weights[name].shape) if name in weights else "nothing"
            raise HarnessError(f"{KEY}={path} does not fit this model: {name} is {shape} here, {found} there", FIX)
    copy_into(params, {name: weights[name] for name in params})
