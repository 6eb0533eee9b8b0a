"""Shared fixtures of the recipe tests: few threads, the tiny LLaVA and its samples."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("DS_ACCELERATOR", "cpu")
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def tiny():
    import tiny as module

    return module
