"""The analysis plugin that docs/analyses.md shows runs as written: installed as a distribution with
its entry point, found by `harness compare`, importing its contract from `harness` only."""
import json
import re
import tomllib

import numpy as np

from clirunner import REPO, run_cli
from core.distfactory import make_dist  # tests/ is on sys.path (tests/conftest.py)
from storefill import add_run

DOC = REPO / "docs" / "analyses.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_documented_analysis_plugin_installs_and_runs(tmp_path, home):
    (pyproject,) = [b for b in _blocks("toml") if "harness-answer-length" in b]
    (module,) = [b for b in _blocks("python") if "def register_analyses" in b]
    project = tomllib.loads(pyproject)["project"]
    ((entry, target),) = project["entry-points"]["harness"].items()
    assert "harness_plugins" not in module  # the contract comes from harness itself
    site = make_dist(tmp_path / "site", project["name"], target, module)
    rng = np.random.default_rng(0)
    for name in ("llama1", "llama3"):
        add_run(home / "results.sqlite", name, (rng.random(60) < 0.6).astype(int))
    result = run_cli(["compare", "task=vqa", "--analyses", entry, "--format", "json", "--resamples", "200"],
                     home=home, env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["analyses"]["answer_length"]
    assert report["tables"][0]["title"] == "Answer length in words"
    assert set(report["data"]) == {"llama1", "llama3"} and report["data"]["llama1"]["interpretable"]
    assert report["findings"][0].startswith("Mean answer length: llama1 1.00 words")
