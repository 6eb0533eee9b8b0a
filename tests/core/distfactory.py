"""Build throwaway installed distributions (dist-info + module) for entry-point discovery tests."""
from __future__ import annotations

import textwrap
from pathlib import Path


def make_dist(site: Path, dist: str, module: str, code: str, version: str = "1.0") -> Path:
    """A distribution ``dist`` whose ``harness`` entry point ``module`` runs ``code``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[harness]\n{module} = {module}\n")
    return site


BACKBONE = """
import harness
from harness.specs import BackboneSpec

@harness.hookimpl
def register_backbones(register):
    register(BackboneSpec(name="{name}", model_card="llama3", implementation="x:y"))
"""
