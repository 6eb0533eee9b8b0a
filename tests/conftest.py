"""Shared fixtures; tests/ is on sys.path so helpers import as ``from clirunner import run_cli``."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HARNESS_HOME for one test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def file_home(tmp_path_factory) -> Path:
    """One HARNESS_HOME for a whole test file, set in the environment while the file runs (data built on
    demand is then built once per file)."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("home")
        patch.setenv("HARNESS_HOME", str(path))
        yield path


@pytest.fixture(autouse=True, scope="module")
def environment_per_file():
    """Each test file leaves os.environ as it found it. A training in the test process sets LOCAL_RANK=0
    for DeepSpeed's engine (plugins/recipes/llava15/distributed.py); under pytest-xdist the next file on
    that worker would hand it to its subprocesses (lmms-eval's Accelerator, `harness run`), which then
    believe a launcher started them and wait for a RANK that never comes."""
    before = os.environ.copy()
    yield
    os.environ.clear()
    os.environ.update(before)


# The longest test file (one epoch of the default study, about 7 minutes of one core) goes first: with
# --no-loadscope-reorder (tox.ini) pytest-xdist's --dist loadfile hands files to the two workers in collection
# order; started last, it ran alone at the end.
FIRST = ("tests/e2e/test_perceiving_run.py",)


def pytest_collection_modifyitems(session, config, items) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(FIRST))  # stable: every other file keeps its order
