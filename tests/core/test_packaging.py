"""The built wheel carries plugins/, tasks/ and model_cards/ and works from another directory."""
import subprocess
import sys
import venv

import pytest
from clirunner import REPO

# What `harness plugins` / `harness list` need; the heavy stack is not installed in this venv,
# which also proves those commands never import it.
LIGHT_DEPS = ["pluggy", "pyyaml", "rich", "click", "omegaconf"]


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_lists_plugins_from_tmp(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(REPO)],
                   check=True, capture_output=True)
    (wheel,) = dist.glob("harness-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *LIGHT_DEPS], check=True)
    harness = env_dir / "bin" / "harness"
    plugins = subprocess.run([str(harness), "plugins"], cwd="/tmp", capture_output=True, text=True)
    assert plugins.returncode == 0, plugins.stderr
    assert "llama" in plugins.stdout and "failed" not in plugins.stdout
    backbones = subprocess.run([str(harness), "list", "backbones", "--json"], cwd="/tmp", capture_output=True, text=True)
    assert backbones.returncode == 0, backbones.stderr
    assert {"llama1", "llama2", "llama3"} <= set(backbones.stdout.split('"'))
    files = subprocess.run([str(py), "-c", "import harness_model_cards, harness_tasks, harness_plugins, pathlib;"
                            "print(pathlib.Path(harness_model_cards.__file__).parent)"],
                           cwd="/tmp", capture_output=True, text=True, check=True).stdout.strip()
    assert str(env_dir) in files and (tmp_path / files / "llama3.yaml").exists()
