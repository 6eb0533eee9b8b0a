"""A tiny random LLaVA checkpoint and tiny local lmms-eval tasks, built once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from harness.evaluation.synthetic import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "llava")


@pytest.fixture(scope="session")
def tiny_tasks(tmp_path_factory) -> Path:
    """toy_colour (generate_until) and toy_colour_mc (multiple_choice) in one include_path."""
    from harness.evaluation.synthetic import build_task

    folder = tmp_path_factory.mktemp("tasks")
    build_task(folder, n=12, name="toy_colour")
    build_task(folder, n=6, name="toy_colour_mc", multiple_choice=True)
    return folder
