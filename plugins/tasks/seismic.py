"""The two seismic-world tasks (lmms-eval YAML in harness_tasks/seismic/) and their data hook.

Entry-point module: imports nothing heavy; the data is built on first use by
:func:`harness_plugins.seismic.dataset.ensure_seismic_data` under ``$HARNESS_HOME/data/seismic``
(seed ``data.scene_seed``, the one seed of the synthetic worlds), unless ``task.data`` names a folder
in the same ``datasets`` schema (docs/seismic.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.specs import TaskSpec
from harness_plugins.tasks.scene import STUDY_DEFAULTS, TASKS_FOLDER

PREPARE = "harness_plugins.tasks.seismic:prepare_seismic"

SEISMIC_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        name="seismic_description", lmms_tasks=("seismic_description",), primary_metric="structure_f1",
        include_path=TASKS_FOLDER, data="seismic", prepare=PREPARE,
        capability_tags=("perception-heavy",),
        aliases=("seismic_desc",),
        defaults=STUDY_DEFAULTS,
        description="Describe a synthetic seismic section; structure-level F1 against the annotation, plus CIDEr.",
    ),
    TaskSpec(
        name="seismic_coordinates", lmms_tasks=("seismic_coordinates",), primary_metric="within_tolerance",
        include_path=TASKS_FOLDER, data="seismic", prepare=PREPARE,
        capability_tags=("structured-output",),
        aliases=("seismic_coords",),
        defaults=STUDY_DEFAULTS,
        description="Give a fault end (or body centre) of a seismic section as JSON; valid-JSON rate, "
                    "accuracy within tolerance, distance.",
    ),
)
# The validation split of each task (other sections): where hyperparameters and budgets are chosen.
SEISMIC_TASKS += tuple(
    TaskSpec(
        name=f"{spec.name}_val", lmms_tasks=(f"{spec.name}_val",), primary_metric=spec.primary_metric,
        include_path=TASKS_FOLDER, data="seismic", prepare=PREPARE, capability_tags=spec.capability_tags,
        aliases=tuple(f"{a}_val" for a in spec.aliases),
        description=f"{spec.name} on the validation split (selection only; report on {spec.name}).",
    ) for spec in SEISMIC_TASKS
)


def prepare_seismic(config: Any) -> dict[str, dict[str, Any]]:
    """Overrides pointing the run's seismic tasks at their data: ``task.data`` when the run's task is a
    seismic task, else the seismic build (made on first use)."""
    from harness_plugins.seismic.dataset import default_root, ensure_seismic_data
    from harness_plugins.tasks.lmms import task_entries

    wanted = {config.task.name, *config.eval.tasks}
    running = [s for s in SEISMIC_TASKS if wanted & {s.name, *s.aliases}] or list(SEISMIC_TASKS)
    names = tuple(t for spec in running for t in spec.lmms_tasks)
    main = any(config.task.name in (s.name, *s.aliases) for s in SEISMIC_TASKS)
    local = config.task.data if main else None
    folder = Path(local) if local else ensure_seismic_data(default_root(), seed=int(config.data.scene_seed))
    return {e["task"]: {k: v for k, v in e.items() if k != "task"} for e in task_entries(names, folder)}


@hookimpl
def register_tasks(register):
    for spec in SEISMIC_TASKS:
        register(spec)
