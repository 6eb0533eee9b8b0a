"""The example third-party plugin in plugins/examples installs with `harness install` like any other
distribution, shows up in `harness plugins`, and its backbone alias and task resolve in config."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from clirunner import REPO, run_cli

EXAMPLE = REPO / "plugins" / "examples" / "harness-plugin-example"


def _installed() -> bool:
    found = subprocess.run([sys.executable, "-m", "pip", "show", "harness-plugin-example"], capture_output=True)
    return found.returncode == 0


@pytest.mark.slow
def test_example_plugin_installs_lists_and_resolves(tmp_path):
    assert not _installed(), "harness-plugin-example is already installed; uninstall it first"
    home = tmp_path / "home"
    installed = run_cli(["install", str(EXAMPLE)], home=home, timeout=600)
    try:
        assert installed.returncode == 0, installed.stderr
        listed = json.loads(run_cli(["plugins", "--json"], home=home).stdout)["plugins"]
        example = [p for p in listed if p["dist"] == "harness-plugin-example"]
        assert example and not example[0].get("error"), listed
        assert {"register_backbones", "register_tasks"} <= set(example[0]["hooks"])

        resolved = run_cli(["config", "backbone=llama3-instruct", "task=vqa_scene_quick", "--json"], home=home)
        assert resolved.returncode == 0, resolved.stderr
        config = json.loads(resolved.stdout)
        values = config["config"]
        assert values["backbone"]["name"] == "llama3-instruct"
        assert values["backbone"]["variant"] == "8b-instruct"  # the alias's default variant
        assert values["eval"]["limit"] == 50  # the task layer's default
    finally:
        removed = run_cli(["uninstall", "harness-plugin-example"], home=home, timeout=300)
    assert removed.returncode == 0, removed.stderr
    assert not _installed()
    gone = run_cli(["config", "backbone=llama3-instruct"], home=home)
    assert gone.returncode == 2 and "llama3-instruct" in gone.stderr
