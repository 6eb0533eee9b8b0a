"""``recipe.init_from``: which checkpoints it accepts, and how it enters the training hash (no model is loaded
here; the training that starts from a checkpoint is tested in test_train_pipeline.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.config_cmds import resolve_cells
from harness.errors import HarnessError
from harness_plugins.recipes.llava15.validate import validate
from clirunner import run_cli


def _checkpoint(folder: Path, backbone: str = "llama3", weights: bytes = b"weights") -> Path:
    """A folder shaped like a harness export (what the hash and the checks read; its weights are not loadable)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llava",
                                                    "architectures": ["LlavaForConditionalGeneration"]}))
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "tokenizer_config.json").write_text("{}")
    (folder / "harness.json").write_text(json.dumps({"format": 1, "config": {
        "backbone": {"name": backbone, "variant": "tiny", "path": None},
        "vision": {"name": "clip", "variant": "tiny", "path": None}}}))
    return folder


def _resolved(*overrides: str):
    (resolved,) = resolve_cells(("backbone=llama3", *overrides), multirun=False)
    return resolved


def test_the_training_hash_follows_the_checkpoint_contents_and_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    a = _checkpoint(tmp_path / "a")
    same = _checkpoint(tmp_path / "same")  # the same bytes in another folder
    hashes = _resolved(f"recipe.init_from={a}").hashes
    assert hashes["training"] != _resolved().hashes["training"]
    assert _resolved(f"recipe.init_from={same}").hashes["training"] != hashes["training"]  # the path is recorded too
    (a / "model.safetensors").write_bytes(b"retrained")  # a new training in the same folder
    assert _resolved(f"recipe.init_from={a}").hashes["training"] != hashes["training"]
    (a / "model.safetensors").write_bytes(b"weights")
    assert _resolved(f"recipe.init_from={a}").hashes == hashes


def test_a_checkpoint_of_another_backbone_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    other = _checkpoint(tmp_path / "llama1", backbone="llama1")
    with pytest.raises(HarnessError) as err:
        validate(_resolved(f"recipe.init_from={other}").config, 1)
    assert "was trained with backbone llama1 (tiny), this run composes llama3 (tiny)" in err.value.one_line()
    validate(_resolved(f"recipe.init_from={_checkpoint(tmp_path / 'llama3')}").config, 1)  # the same: accepted


@pytest.mark.parametrize("make, named", [
    (lambda tmp: tmp / "missing", "is not a folder"),
    (lambda tmp: tmp, "is not a LLaVA checkpoint (no config.json)"),
])
def test_no_checkpoint_there_is_one_line_and_exit_2(tmp_path, make, named):
    done = run_cli(["run", "task=vqa", "backbone=llama3", f"recipe.init_from={make(tmp_path)}", "--dry-run"],
                   home=tmp_path / "home")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "recipe.init_from=" in done.stderr and named in done.stderr
