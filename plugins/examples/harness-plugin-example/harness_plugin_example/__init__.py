"""An example third-party harness plugin: one backbone alias and one task.

The harness finds this module through the ``harness`` entry-point group (see pyproject.toml) and
calls the hooks below. Everything is a light descriptor or a "module:attr" string, so listing
plugins imports nothing heavy.
"""
from __future__ import annotations

from pathlib import Path

from harness import hookimpl
from harness.specs import BackboneSpec, TaskSpec


@hookimpl
def register_backbones(register):
    # The built-in LLaMA-3 implementation and model card, with the instruct model as the default.
    register(BackboneSpec(
        name="llama3-instruct", model_card="llama3",
        implementation="harness_plugins.backbones.llama_backbone:Llama3",
        default_variant="8b-instruct",
        description="LLaMA-3 8B Instruct (weights from backbone.path or the Hugging Face cache)",
    ))


@hookimpl
def register_tasks(register):
    import harness_tasks

    # The scene-world VQA task (the same lmms-eval task), capped at 50 samples for smoke runs.
    register(TaskSpec(
        name="vqa_scene_quick", lmms_tasks=("vqa_scene",), primary_metric="exact_match",
        include_path=str(Path(harness_tasks.__file__).parent), data="scene",
        prepare="harness_plugins.tasks.prepare:prepare_scene",
        capability_tags=("perception-heavy", "reasoning-heavy"),
        defaults={"eval.limit": 50},
        description="vqa_scene on its first 50 samples",
    ))
