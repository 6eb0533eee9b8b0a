"""The blind baseline's naming: a run's blind pass (every image blanked, ``eval.blind=true``) is stored
as the task ``<task>@blind``, with the same metric names and doc ids as the task itself.

Import-light: the leaderboard, the run report and the analyses read it without loading lmms-eval.
"""
from __future__ import annotations

BLIND_SUFFIX = "@blind"


def blind_task(task: str) -> str:
    """The task name the blind baseline of ``task`` is stored under."""
    return task + BLIND_SUFFIX


def is_blind(task: str) -> bool:
    """Whether ``task`` names a blind pass."""
    return task.endswith(BLIND_SUFFIX)


def seeing_task(task: str) -> str:
    """The task a blind pass belongs to (``task`` itself when it is not blind)."""
    return task[: -len(BLIND_SUFFIX)] if is_blind(task) else task
