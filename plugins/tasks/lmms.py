"""Turn harness tasks into lmms-eval task objects, with the data folder chosen at run time.

How the data path reaches lmms-eval: lmms-eval 0.7.3 does not expand variables in a task YAML's
``dataset_path``, but its ``get_task_dict`` (the function ``simple_evaluate`` calls) accepts a
task given as a dict, ``{"task": name, "dataset_path": ..., "dataset_kwargs": {...}}``, and
merges those keys over the registered YAML (``TaskManager._load_individual_task_or_group``).
So :func:`task_entries` produces such dicts for a local folder (the scene build, or ``task.data``
for a real benchmark) and plain names otherwise; pass them as ``tasks=`` to
``lmms_eval.evaluator.simple_evaluate`` (with a ``TaskManager`` built on the include paths), or
to :func:`load_tasks`. In ``harness run`` each TaskSpec's ``prepare`` hook
(:mod:`harness_plugins.tasks.prepare`) returns the same keys as per-task overrides. The YAML's own ``dataset_path`` stays a working default for runs of
lmms-eval's CLI from the folder holding ``./harness_runs``.

A local folder must be a ``datasets`` folder written by ``save_to_disk`` holding the split the
lmms-eval task reads (``test_split``), with the columns its ``utils.py`` uses. A folder holding one
sub-folder per lmms-eval task (as the scene build does) serves several tasks at once.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, unknown_name

TaskEntry = str | dict[str, Any]

# lmms-eval tasks whose YAML fetches more data online even when the rows are local: GQA joins its
# images from a second hub dataset in process_docs, so a local copy carries an `image` column instead.
LOCAL_OVERRIDES: dict[str, dict[str, Any]] = {"gqa": {"process_docs": None}}


def dataset_folder_for(task: str, data: str | Path) -> Path:
    """``data/<task>`` when it exists (a folder of several tasks' data), else ``data`` itself."""
    data = Path(data).expanduser()
    return data / task if (data / task).is_dir() else data


def check_dataset_folder(path: Path, task: str) -> Path:
    """One-line error unless ``path`` is a folder written by ``datasets``' ``save_to_disk``."""
    markers = ("dataset_dict.json", "state.json")
    if not path.is_dir():
        raise HarnessError(f"data folder {path} for task {task!r} does not exist",
                           "set task.data to a folder written by datasets' save_to_disk")
    if not any((path / m).is_file() for m in markers):
        raise HarnessError(f"{path} is not a datasets folder (no dataset_dict.json or state.json) for task {task!r}",
                           "save the data with Dataset(Dict).save_to_disk, or point task.data at that folder")
    return path


def task_entries(lmms_tasks: Sequence[str], data: str | Path | None = None) -> list[TaskEntry]:
    """lmms-eval task list entries: names, or override dicts pointing at local ``datasets`` folders."""
    if data is None:
        return list(lmms_tasks)
    entries: list[TaskEntry] = []
    for task in lmms_tasks:
        folder = check_dataset_folder(dataset_folder_for(task, data).absolute(), task)
        entries.append({"task": task, "dataset_path": str(folder), "dataset_kwargs": {"load_from_disk": True},
                        **LOCAL_OVERRIDES.get(task, {})})
    return entries


def task_manager(include_paths: Sequence[str | Path] = (), include_defaults: bool = True):
    """lmms-eval's ``TaskManager`` over its own tasks and ``include_paths``; YAML errors as one line."""
    import yaml
    from lmms_eval.tasks import TaskManager

    try:
        return TaskManager(include_path=[str(p) for p in include_paths] or None, include_defaults=include_defaults,
                           verbosity="WARNING")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.name}, line {mark.line + 1}" if mark else "a task file"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise HarnessError(f"YAML error in task file {where}: {problem}",
                           "fix the file or remove it from the include path") from None


def load_tasks(entries: Sequence[TaskEntry], include_paths: Sequence[str | Path] = (),
               include_defaults: bool = True, manager: Any = None) -> dict[str, Any]:
    """lmms-eval task objects for ``entries`` (from :func:`task_entries`), loaded by lmms-eval itself."""
    from lmms_eval.tasks import get_task_dict

    manager = manager or task_manager(include_paths, include_defaults)
    for entry in entries:
        name = entry if isinstance(entry, str) else entry["task"]
        if name not in manager.all_tasks:
            raise unknown_name("lmms-eval task", name, manager.all_tasks)
    try:
        return get_task_dict(list(entries), manager)
    except FileNotFoundError as exc:
        raise HarnessError(f"lmms-eval could not load data: {exc}",
                           "check task.data points at a datasets folder in the task's schema") from None
