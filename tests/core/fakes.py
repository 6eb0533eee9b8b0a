"""Small fake plugins for core tests: light descriptors, no heavy imports."""
from dataclasses import dataclass, field
from typing import Optional

import harness
from harness.specs import BackboneSpec, RecipeSpec, TaskSpec, VisionSpec


@dataclass
class StageSettings:
    lr: float = 1e-3
    global_batch: int = 256


@dataclass
class FakeRecipeSettings:
    align: StageSettings = field(default_factory=StageSettings)
    finetune: StageSettings = field(default_factory=lambda: StageSettings(lr=2e-5, global_batch=128))
    zero_stage: int = 2
    tag: str = "v1"
    extra_json: Optional[str] = field(default=None, metadata={"hash": "contents"})  # hashed by its contents


class FakeCore:
    """Registers one of each kind the config needs, like the built-ins do."""

    @harness.hookimpl
    def register_backbones(self, register):
        for gen in ("llama1", "llama2", "llama3"):
            register(BackboneSpec(name=gen, model_card=gen, implementation="fake:Backbone"))

    @harness.hookimpl
    def register_vision_encoders(self, register):
        register(VisionSpec(name="clip", model_card="clip", implementation="fake:Clip"))

    @harness.hookimpl
    def register_tasks(self, register):
        register(TaskSpec(name="vqa_scene", lmms_tasks=("vqa_scene",), primary_metric="exact_match",
                          aliases=("vqa",), defaults={"eval.max_new_tokens": 8}))
        register(TaskSpec(name="scene_description", lmms_tasks=("scene_description",), primary_metric="f1"))

    @harness.hookimpl
    def register_recipes(self, register):
        register(RecipeSpec(name="llava15", settings=FakeRecipeSettings, implementation="fake:train",
                            profiles={"organism": {"align.global_batch": 8, "finetune.global_batch": 8},
                                      "full": {}}))
