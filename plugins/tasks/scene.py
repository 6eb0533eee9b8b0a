"""The three scene-world tasks (lmms-eval YAML in harness_tasks/) and the `harness data` commands.

Entry-point module: imports nothing heavy; the tasks' data is built on first use by
:func:`harness_plugins.scene.dataset.ensure_scene_data`.
"""
from __future__ import annotations

from pathlib import Path

from harness import hookimpl
from harness.specs import TaskSpec

import harness_tasks

TASKS_FOLDER = str(Path(harness_tasks.__file__).parent)
PREPARE = "harness_plugins.tasks.prepare:prepare_scene"
# What the scene tasks collect by default for the analyses of `harness compare` (cheap at organism
# size; the real benchmarks leave them opt-in): the blind baseline (every image blanked), which the
# competence gate and the vision-bound analysis read; for vqa_scene also the answer-position hidden
# states and the perturbation sets, which the stability analysis reads.
STUDY_DEFAULTS = {"eval.blind": True}
VQA_DEFAULTS = {**STUDY_DEFAULTS, "eval.save_hidden_states": True,
                "eval.tasks": ["vqa_scene_pixel_noise", "vqa_scene_paraphrase"]}

SCENE_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        name="vqa_scene", lmms_tasks=("vqa_scene",), primary_metric="exact_match",
        include_path=TASKS_FOLDER, data="scene", prepare=PREPARE,
        capability_tags=("perception-heavy", "reasoning-heavy"),
        aliases=("vqa",),
        defaults=VQA_DEFAULTS,
        description="Short-answer questions about synthetic scenes, typed perception or reasoning.",
    ),
    TaskSpec(
        name="scene_description", lmms_tasks=("scene_description",), primary_metric="attribute_f1",
        include_path=TASKS_FOLDER, data="scene", prepare=PREPARE,
        capability_tags=("perception-heavy",),
        aliases=("description",),
        defaults=STUDY_DEFAULTS,
        description="Describe every object of a scene; attribute F1 against the annotation, plus CIDEr.",
    ),
    TaskSpec(
        name="coordinate_prediction", lmms_tasks=("coordinate_prediction",), primary_metric="within_tolerance",
        include_path=TASKS_FOLDER, data="scene", prepare=PREPARE,
        capability_tags=("structured-output",),
        aliases=("coords",),
        defaults=STUDY_DEFAULTS,
        description="Give an object's centre as JSON; valid-JSON rate, accuracy within tolerance, distance.",
    ),
    *(TaskSpec(
        name=f"vqa_scene_{perturbation}", lmms_tasks=(f"vqa_scene_{perturbation}",), primary_metric="exact_match",
        include_path=TASKS_FOLDER, data="scene", prepare=PREPARE,
        capability_tags=("perception-heavy", "reasoning-heavy"),
        description=f"vqa_scene with each doc perturbed ({what}); for the stability analysis.",
    ) for perturbation, what in (("pixel_noise", "pixel noise"), ("paraphrase", "paraphrased question"))),
)
# The validation split of each task (other scenes): where hyperparameters and budgets are chosen.
SCENE_TASKS += tuple(
    TaskSpec(
        name=f"{spec.name}_val", lmms_tasks=(f"{spec.name}_val",), primary_metric=spec.primary_metric,
        include_path=TASKS_FOLDER, data="scene", prepare=PREPARE, capability_tags=spec.capability_tags,
        aliases=tuple(f"{a}_val" for a in spec.aliases),
        description=f"{spec.name} on the validation split (selection only; report on {spec.name}).",
    ) for spec in SCENE_TASKS[:3]
)


@hookimpl
def register_tasks(register):
    for spec in SCENE_TASKS:
        register(spec)


@hookimpl
def register_commands(cli):
    from harness_plugins.scene.cli import data

    cli.add_command(data)
