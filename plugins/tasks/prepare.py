"""``TaskSpec.prepare`` hooks: make a task's data ready and say which folder lmms-eval should read.

Each returns ``{lmms_task: {YAML key: value}}`` overrides (see :mod:`harness_plugins.tasks.lmms`
for why overrides, not YAML edits). The scene tasks build the scene world on first use under
``$HARNESS_HOME/data/scene`` (seed ``data.scene_seed``) unless ``task.data`` names a build; a
benchmark reads ``task.data`` when it is the run's task (``<task.data>/<lmms task>`` when it is one of
``eval.tasks``), and lmms-eval's own download otherwise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness_plugins.tasks.benchmarks import BENCHMARKS
from harness_plugins.tasks.scene import SCENE_TASKS


def _overrides(lmms_tasks: tuple[str, ...], data: str | Path) -> dict[str, dict[str, Any]]:
    from harness_plugins.tasks.lmms import task_entries

    return {e["task"]: {k: v for k, v in e.items() if k != "task"} for e in task_entries(lmms_tasks, data)}


def _is_run_task(config: Any, spec) -> bool:
    return config.task.name in (spec.name, *spec.aliases)


def prepare_scene(config: Any) -> dict[str, dict[str, Any]]:
    """Build (or reuse) the scene data; overrides pointing the run's scene tasks at it (all of them
    when the run's task is another task that borrows the scene data, as a plugin's may)."""
    from harness_plugins.scene.dataset import default_root, ensure_scene_data

    wanted = {config.task.name, *config.eval.tasks}
    running = [s for s in SCENE_TASKS if wanted & {s.name, *s.aliases}] or SCENE_TASKS
    names = tuple(t for spec in running for t in spec.lmms_tasks)
    local = config.task.data if any(_is_run_task(config, s) for s in SCENE_TASKS) else None
    folder = Path(local) if local else ensure_scene_data(default_root(), seed=int(config.data.scene_seed))
    return _overrides(names, folder)


class _PrepareBenchmark:
    """A benchmark's local data: ``task.data`` when the run is about that benchmark, or
    ``<task.data>/<lmms task>`` for a benchmark in ``eval.tasks``; else lmms-eval's own download,
    checked to be reachable (offline: in the local cache) before any training starts."""

    def __init__(self, spec) -> None:
        self.spec = spec

    def __call__(self, config: Any) -> dict[str, dict[str, Any]]:
        from harness.errors import HarnessError
        from harness_plugins.tasks.reachable import unreachable

        data, main = config.task.data, _is_run_task(config, self.spec)
        if data and (main or all((Path(data).expanduser() / t).is_dir() for t in self.spec.lmms_tasks)):
            return _overrides(self.spec.lmms_tasks, data)
        missing = unreachable(self.spec.lmms_tasks)
        if missing:
            task, repo = missing[0]
            hint = ("point task.data at a local copy (a datasets folder saved with save_to_disk, in the task's schema)"
                    if main else f"put a local copy at <task.data>/{task} (one datasets folder per lmms-eval task) "
                                 "and set task.data to the folder holding it")
            raise HarnessError(f"task {self.spec.name} needs the hub dataset {repo}, not in the local Hugging Face cache, "
                               "and the network is off (HF_HUB_OFFLINE)", hint)
        return {}


for _spec in BENCHMARKS:
    globals()[f"prepare_{_spec.name}"] = _PrepareBenchmark(_spec)
