"""The run configuration's typed schema (dataclasses). Recipe settings are added per recipe."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from harness.errors import HarnessError


class OnBadRow(Enum):
    error = "error"
    skip = "skip"


class Launcher(Enum):
    none = "none"  # one process, in the harness's own process
    deepspeed = "deepspeed"  # DeepSpeed's launcher (multi-GPU, multi-node with hostfile)
    torchrun = "torchrun"
    slurm = "slurm"  # each cell a Slurm job through submitit (harness.slurm), the `slurm.*` settings


@dataclass
class SweepConfig:
    """How ``harness run -m`` runs its cells on this machine."""

    parallel: int = 1  # cells at once, each in its own process, the CPU threads and GPUs divided between them


@dataclass
class SlurmConfig:
    """Resources of each cell's job with ``launcher=slurm`` (nodes: ``num_nodes``, GPUs per node: ``num_gpus``)."""

    partition: Optional[str] = None
    account: Optional[str] = None
    time_min: int = 240  # wall-clock limit of each cell's job, minutes
    cpus_per_gpu: int = 8  # CPU cores per GPU (per task without GPUs)
    mem_gb: Optional[int] = None  # memory per node; None: the partition's default
    executor: str = "slurm"  # "local": submitit's local executor runs the same jobs as local processes (tests)


@dataclass
class TaskConfig:
    name: str = "vqa_scene"
    data: Optional[str] = None  # local copy of the task's data (a `datasets` folder)


@dataclass
class BackboneConfig:
    name: str = "llama3"
    variant: Optional[str] = None  # None: the model card's default (the tiny organism)
    path: Optional[str] = None  # a local model folder or a Hugging Face repo id in the local cache


@dataclass
class VisionConfig:
    name: str = "clip"
    variant: Optional[str] = None
    path: Optional[str] = None


# Short-answer questions per instruct image in the scene world's finetune mix when data.scene_questions
# is left unset. Chosen on the validation split (issue #12, 2026-12-03 to 12-06): the packed questions
# (the organism profile packs 8 to an image) read shape where the plain mix does not in the same training
# time (LLaMA-3, shape 0.49 against 0.31, majority 0.31), and with them five epochs put the VLMs of all
# three backbones above the majority answer (0.403) and far above their blind score (LLaMA-3, three
# seeds: exact match 0.657 / 0.647 / 0.653, blind 0.34 mean). 32 gave the same as 8 at the same steps
# (three seeds a side, Welch p = 0.75), so 8: a quarter of the build.
SCENE_QUESTIONS_AUTO = 8

# The scene world's perception question types, sorted: what data.perceive=scene trains unless data.perceive_types
# says otherwise.
PERCEIVE_TYPES_DEFAULT = ("colour", "exists", "shape")


@dataclass
class DataConfig:
    train: str = "scene"  # "scene" (the synthetic scene world) or a LLaVA-format JSON file
    image_root: Optional[str] = None  # image folder for a LLaVA-format JSON file
    align: Optional[str] = None  # stage-1 data of its own (LLaVA's 558K pairs); None: from data.train
    align_image_root: Optional[str] = None  # its image folder, when not data.image_root
    on_bad_row: OnBadRow = OnBadRow.error
    scene_seed: int = 0
    # seismic conversations in the finetune mix, beside data.train's: "true" (the seismic world's train
    # split, built on demand, seed data.scene_seed), "false", or a LLaVA JSON file / datasets folder;
    # "auto": true with data.train=scene, false with your own data.train
    seismic: Optional[str] = "auto"  # null: false
    # with data.train=scene: k independent short-answer questions per instruct image (built on demand
    # beside the scene build), each its own exchange record, added to the finetune mix; 0: none;
    # null (the default): SCENE_QUESTIONS_AUTO with data.train=scene, 0 with your own data.train
    scene_questions: Optional[int] = None
    # a stage between align and finetune that trains the projector and the LLM on this data alone first
    # (recipe.perceive_epochs epochs at the finetune stage's settings, every exchange its own sequence):
    # "scene" (the colour, shape and exists questions of the scene world's short-answer question build), or
    # a LLaVA JSON file / datasets folder; null (the default; also none, off, false): no such stage, and left
    # out of every hash
    perceive: Optional[str] = field(default=None, metadata={"hash": "unless_default"})
    # with data.perceive=scene: the question types its stage trains, each from the short-answer question build
    # when the build asks it (colour, shape, exists, count, compare, spatial, composition), otherwise from the
    # instruct set's exchanges (description, coordinate); e.g. colour,shape,exists,description keeps the long
    # answers in practice. Order and repeats do not matter; left out of every hash at its default
    perceive_types: list[str] = field(default_factory=lambda: list(PERCEIVE_TYPES_DEFAULT),
                                      metadata={"hash": "unless_default"})

    def __post_init__(self) -> None:
        self.seismic = seismic_setting(self.seismic)
        self.perceive = perceive_setting(self.perceive)
        self.perceive_types = sorted({str(t).strip().lower() for t in self.perceive_types})  # one spelling, one hash
        if self.scene_questions is None:  # decided by data.train once the config is whole (scene_questions_choice)
            return
        if not (isinstance(self.scene_questions, int) and 0 <= self.scene_questions <= 32):
            raise HarnessError(f"data.scene_questions={self.scene_questions!r} is invalid: it must be an integer from 0 to 32",
                               "set data.scene_questions (questions per instruct image; 0: none)")
        if self.scene_questions and self.train != "scene":
            raise HarnessError(f"data.scene_questions={self.scene_questions} needs data.train=scene (it asks about the "
                               "scene world's instruct images)", "drop data.scene_questions or set data.train=scene")


def scene_questions_choice(data: Any) -> int:
    """``data.scene_questions`` with the unset value decided: SCENE_QUESTIONS_AUTO on the scene world
    (``data.train=scene``), 0 on your own data.train. The resolver stores the decided value, so the unset
    key and its value spelled out are one training hash."""
    k = getattr(data, "scene_questions", 0)
    if k is None:
        return SCENE_QUESTIONS_AUTO if data.train == "scene" else 0
    return int(k)


def perceive_setting(value: Any) -> Optional[str]:
    """``data.perceive`` in its one spelling: "scene", an existing file or folder, or None (no perceive stage;
    also for none, off, false and null)."""
    text = "none" if value is None else str(value).strip()
    if text.lower() in ("none", "off", "false", "null"):
        return None
    if text.lower() == "scene":
        return "scene"
    if text and Path(text).expanduser().exists():
        return text
    raise HarnessError(f"data.perceive={text!r} is neither scene, none nor an existing file or folder",
                       "set data.perceive=scene (the scene world's perception questions), none (no perceive stage), "
                       "a LLaVA JSON file or a datasets folder")


def seismic_setting(value: Any) -> str:
    """``data.seismic`` in its one spelling: "auto", "true", "false" (also for null) or an existing file
    or folder."""
    text = "false" if value is None else str(value).strip()
    if text.lower() in ("auto", "true", "false"):
        return text.lower()
    if text and Path(text).expanduser().exists():
        return text
    raise HarnessError(f"data.seismic={text!r} is neither auto, true, false nor an existing file or folder",
                       "set data.seismic=true (the seismic world's train split), false (data.train alone) "
                       "or a LLaVA JSON file or datasets folder of seismic conversations")


@dataclass
class EvalConfig:
    tasks: list[str] = field(default_factory=list)  # several tasks at once; empty: just task.name
    limit: Optional[int] = None
    batch_size: int = 32  # CPU organisms: about 4-5x the samples/s of batch 1 (benchmarks/test_eval_throughput.py)
    max_new_tokens: Optional[int] = None  # None: each task's own generation_kwargs (else 32)
    save_hidden_states: bool = False
    blind: bool = False  # also evaluate the run's task with every image blanked (the blind baseline)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit <= 0:
            raise HarnessError(f"eval.limit must be a positive integer, got {self.limit}", "drop it to evaluate every sample")
        if self.batch_size < 1:
            raise HarnessError(f"eval.batch_size must be at least 1, got {self.batch_size}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise HarnessError(f"eval.max_new_tokens must be at least 1, got {self.max_new_tokens}")


@dataclass
class RecipeBase:
    """Fields every recipe section has; a recipe's own settings are added beside them."""

    name: str = "llava15"
    profile: str = "auto"  # "auto": "organism" for organism backbones, else "full"


@dataclass
class RunConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    vision: VisionConfig = field(default_factory=VisionConfig)
    recipe: Any = field(default_factory=RecipeBase)
    attention: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    resume: bool = False
    launcher: Launcher = Launcher.none
    num_gpus: Optional[int] = None
    num_nodes: int = 1
    hostfile: Optional[str] = None
    sweep: SweepConfig = field(default_factory=SweepConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)


# Sections a top-level shorthand selects by name: `backbone=llama3` means `backbone.name=llama3`.
SHORTHANDS = {"task": "task.name", "backbone": "backbone.name", "vision": "vision.name", "recipe": "recipe.name"}
# Keys that do not change what a run computes; left out of every hash.
UNHASHED = ("resume", "sweep", "slurm")
# What changes the trained weights; the rest of the config only changes evaluation.
TRAINING_SECTIONS = ("backbone", "vision", "recipe", "data", "seed")


def schema_for(recipe_settings: type | None) -> type:
    """RunConfig whose ``recipe`` section is typed by the recipe's own settings dataclass."""
    if recipe_settings is None:
        return RunConfig
    if not dataclasses.is_dataclass(recipe_settings):
        raise HarnessError(f"recipe settings {recipe_settings!r} must be a dataclass class")
    clash = {f.name for f in dataclasses.fields(recipe_settings)} & {"name", "profile"}
    if clash:
        raise HarnessError(f"recipe settings {recipe_settings.__name__} may not define {sorted(clash)}")
    recipe_cls = dataclasses.make_dataclass(
        f"{recipe_settings.__name__}Section", [], bases=(RecipeBase, recipe_settings)
    )
    return dataclasses.make_dataclass(
        "ResolvedRunConfig",
        [("recipe", recipe_cls, field(default_factory=recipe_cls))],
        bases=(RunConfig,),
    )
