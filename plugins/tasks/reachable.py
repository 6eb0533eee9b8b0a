"""Can lmms-eval load a benchmark's data here? Checked before training, so an offline machine learns
that a task's data is missing in seconds, not after hours of training.

Offline (``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE``), lmms-eval can read a hub dataset only from the
local Hugging Face caches; this finds the task's ``dataset_path`` in lmms-eval's own YAML (a text scan
of its task folder, no 5-second task index) and looks for it in both caches. Online, nothing is checked:
lmms-eval downloads as usual.
"""
from __future__ import annotations

import os
import re
from pathlib import Path


def offline() -> bool:
    """True when the Hugging Face libraries are told not to use the network."""
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"}
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"))


def task_yaml(lmms_task: str) -> Path | None:
    """The lmms-eval YAML that defines ``task: <lmms_task>``, found by scanning its task folder."""
    import lmms_eval.tasks

    pattern = re.compile(rf"^task:\s*['\"]?{re.escape(lmms_task)}['\"]?\s*$", re.MULTILINE)
    for path in Path(lmms_eval.tasks.__file__).parent.rglob("*.yaml"):
        try:
            if pattern.search(path.read_text(encoding="utf-8", errors="ignore")):
                return path
        except OSError:
            continue
    return None


def dataset_repo(lmms_task: str) -> str | None:
    """The hub dataset a task's YAML (with its includes) reads, or None when it names none."""
    path = task_yaml(lmms_task)
    if path is None:
        return None
    from lmms_eval.utils import load_yaml_config

    config = load_yaml_config(str(path), mode="simple")
    kwargs = config.get("dataset_kwargs") or {}
    repo = config.get("dataset_path")
    if not isinstance(repo, str) or kwargs.get("load_from_disk") or Path(repo).expanduser().exists():
        return None
    return repo


def cached(repo: str) -> bool:
    """Whether any local copy of the hub dataset ``repo`` exists (hub snapshot or datasets' own cache)."""
    from datasets import config as datasets_config
    from huggingface_hub import constants

    hub_folder = Path(constants.HF_HUB_CACHE) / f"datasets--{repo.replace('/', '--')}"
    datasets_folder = Path(datasets_config.HF_DATASETS_CACHE)
    names = {repo.replace("/", "___"), repo.replace("/", "___").lower()}
    return hub_folder.is_dir() or any((datasets_folder / name).is_dir() for name in names)


def unreachable(lmms_tasks: tuple[str, ...]) -> list[tuple[str, str]]:
    """(lmms task, hub dataset) pairs lmms-eval could not load here; empty online."""
    if not offline():
        return []
    missing = []
    for task in lmms_tasks:
        repo = dataset_repo(task)
        if repo is not None and not cached(repo):
            missing.append((task, repo))
    return missing
