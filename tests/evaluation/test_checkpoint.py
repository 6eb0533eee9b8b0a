"""run=<dir> resolves to a checked LLaVA checkpoint; anything else is a one-line error."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

from harness.errors import HarnessError
from harness.evaluation.checkpoint import checkpoint_identity, resolve_checkpoint


def test_checkpoint_folder_resolves_to_itself(tiny_checkpoint):
    assert resolve_checkpoint(tiny_checkpoint) == tiny_checkpoint


def test_folder_without_config_is_not_a_llava_checkpoint(tmp_path):
    with pytest.raises(HarnessError, match="not a LLaVA checkpoint"):
        resolve_checkpoint(tmp_path)


def test_plain_llama_checkpoint_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(HarnessError, match="model_type='llama'") as err:
        resolve_checkpoint(tmp_path)
    assert "\n" not in str(err.value)


def test_checkpoint_from_another_harness_format_is_refused(tiny_checkpoint, tmp_path):
    copy = shutil.copytree(tiny_checkpoint, tmp_path / "old")
    (copy / "harness.json").write_text(json.dumps({"harness_version": "0.0.1", "format": 99}))
    with pytest.raises(HarnessError, match="harness 0.0.1 in format 99"):
        resolve_checkpoint(copy)


def test_run_dir_from_another_harness_version_is_refused(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"format": 99, "harness_version": "9.9"}))
    with pytest.raises(HarnessError, match="harness 9.9"):
        resolve_checkpoint(tmp_path)


def test_run_dir_finds_its_checkpoint_link(tiny_checkpoint, tmp_path):
    from harness.runs import RUN_FORMAT

    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"format": RUN_FORMAT, "hashes": {}}))
    (tmp_path / "checkpoint").symlink_to(tiny_checkpoint)
    assert resolve_checkpoint(tmp_path) == tiny_checkpoint.resolve()


def test_identity_changes_when_the_weights_change(tiny_checkpoint, tmp_path):
    copy = shutil.copytree(tiny_checkpoint, tmp_path / "copy")
    before = checkpoint_identity(copy, memo_dir=tmp_path / "memo")
    assert checkpoint_identity(copy, memo_dir=tmp_path / "memo") == before
    weights = next(copy.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert checkpoint_identity(copy, memo_dir=tmp_path / "memo") != before
