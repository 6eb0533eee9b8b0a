"""Fixtures for the analysis tests: a store path and a context builder over it."""
from __future__ import annotations

import pytest

from harness.store import open_store


@pytest.fixture
def store_file(tmp_path):
    return tmp_path / "results.sqlite"


@pytest.fixture
def context(store_file, tmp_path):
    """build(**kwargs) -> CompareContext of every run in the store (resamples kept small for speed)."""
    from harness_plugins.analyses.selection import build_context, select_runs

    def build(allow_uncontrolled=False, plots=True, task="vqa_scene", backbones=None):
        with open_store(store_file) as store:
            runs = select_runs(store, task, backbones)
            return build_context(store, runs, allow_uncontrolled, out_dir=tmp_path / "plots" if plots else None,
                                 n_resamples=400, ordered=bool(backbones))
    return build
