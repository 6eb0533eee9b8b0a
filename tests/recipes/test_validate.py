"""``validate(config, world_size)``: every bad setting is one line before any work, through the CLI too."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cli.config_cmds import resolve_cells
from harness.errors import HarnessError
from harness.launchers import world_size
from harness_plugins.recipes.llava15.cli import launch_command
from harness_plugins.recipes.llava15.validate import validate

HARNESS = str(Path(sys.executable).parent / "harness")


def _config(*overrides: str):
    (resolved,) = resolve_cells(overrides, multirun=False)
    return resolved.config


def _error(config, world_size: int = 1) -> str:
    with pytest.raises(HarnessError) as err:
        validate(config, world_size)
    text = err.value.one_line()
    assert "\n" not in text
    return text


def test_default_settings_pass_for_one_and_two_processes():
    validate(_config("backbone=llama3"), 1)
    validate(_config("backbone=llama3"), 2)
    validate(_config("recipe.profile=full"), 8)


@pytest.mark.parametrize("overrides, named", [
    (("recipe.align.lr=nan",), "recipe.align.lr=nan is invalid: it must be a finite positive number"),
    (("recipe.finetune.lr=inf",), "recipe.finetune.lr=inf is invalid"),
    (("recipe.finetune.lr=-1e-5",), "recipe.finetune.lr=-1e-05 is invalid"),
    (("recipe.warmup_ratio=1",), "recipe.warmup_ratio=1.0 is invalid: it must be a number in [0, 1)"),
    (("recipe.warmup_ratio=-0.1",), "recipe.warmup_ratio=-0.1 is invalid"),
    (("recipe.checkpoint_every=0",), "recipe.checkpoint_every=0 is invalid"),
    (("recipe.max_length=0",), "recipe.max_length=0 is invalid"),
    (("recipe.lora.enabled=true", "recipe.lora.r=0"), "recipe.lora.r=0 is invalid"),
    (("recipe.lora.enabled=true", "recipe.lora.alpha=0"), "recipe.lora.alpha=0 is invalid"),
    (("recipe.lora.enabled=true", "recipe.lora.dropout=1"), "recipe.lora.dropout=1.0 is invalid"),
    (("recipe.align.micro_batch=0",), "recipe.align.micro_batch=0 is invalid"),
    (("recipe.finetune.max_steps=0",), "recipe.finetune.max_steps=0 is invalid"),
    (("recipe.zero_stage=4",), "recipe.zero_stage=4 is invalid"),
    (("recipe.perceive_epochs=0",), "recipe.perceive_epochs=0.0 is invalid"),
    (("recipe.perceive_lr=-1",), "recipe.perceive_lr=-1.0 is invalid"),
    (("recipe.align.global_batch=30",), "recipe.align.global_batch=30 is not a multiple of micro_batch x world size"),
    (("recipe.precision=bf16",), "recipe.precision=bf16 needs a GPU"),
    (("recipe.offload=optimizer_and_params", "recipe.zero_stage=2"), "needs ZeRO-3"),
])
def test_bad_setting_is_one_line_naming_it(overrides, named):
    assert named in _error(_config(*overrides))


def test_lora_settings_are_not_checked_while_lora_is_off():
    validate(_config("recipe.lora.r=0"), 1)


@pytest.mark.parametrize("value", [True, "1e-3", float("nan")])
def test_learning_rate_that_is_not_a_number_is_refused(value):
    config = _config()
    config.recipe.finetune.lr = value
    assert "recipe.finetune.lr=" in _error(config)


def test_batch_arithmetic_uses_the_world_size():
    config = _config("backbone=llama3")  # organism: global 32, micro 16
    assert "16 x 3 = 48" in _error(config, 3)


def test_user_deepspeed_json_is_checked(tmp_path):
    user = tmp_path / "ds.json"
    user.write_text(json.dumps({"zero_optimization": {"stage": 7}}))
    assert f"{user}: DeepSpeed rejects zero_optimization.stage" in _error(_config(f"recipe.deepspeed_config={user}"))


def test_validate_is_registered_and_import_light():
    code = ("import sys\n"
            "from harness.plugin_manager import get_plugins\n"
            "from harness.lazy import load_ref\n"
            "from harness.cli.config_cmds import resolve_cells\n"
            "spec = get_plugins().registry('recipes').entry('llava15').spec\n"
            "(r,) = resolve_cells(('backbone=llama3',), multirun=False)\n"
            "load_ref(spec.validate)(r.config, 2)\n"
            "print(spec.validate, 'torch' in sys.modules, 'deepspeed' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["harness_plugins.recipes.llava15.validate:validate", "False", "False"]


def _launch_cfg(**kw):
    base = dict(launcher="deepspeed", num_gpus=2, num_nodes=1, hostfile=None)
    return SimpleNamespace(**(base | kw))


def test_deepspeed_launcher_does_not_pass_local_rank_and_sets_the_world_size():
    command = launch_command(_launch_cfg(), ["train"])
    assert command[1] == "--no_local_rank" and command[command.index("--num_gpus") + 1] == "2"
    assert world_size(_launch_cfg()) == 2 and world_size(_launch_cfg(launcher="torchrun", num_nodes=2)) == 4
    assert world_size(_launch_cfg(launcher="none")) == 1


def test_hostfile_gives_the_world_size(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# cluster\nnode1 slots=8\nnode2 slots=8\n\nnode3 slots=4\n")
    assert world_size(_launch_cfg(hostfile=str(hosts), num_gpus=None)) == 20
    assert world_size(_launch_cfg(hostfile=str(hosts), num_gpus=None, num_nodes=2)) == 16
    assert world_size(_launch_cfg(hostfile=str(hosts), num_gpus=2, num_nodes=2)) == 4
    with pytest.raises(HarnessError, match="lists 3 hosts"):
        world_size(_launch_cfg(hostfile=str(hosts), num_nodes=4))
    hosts.write_text("node1 slot=8\n")
    with pytest.raises(HarnessError, match="bad line 'node1 slot=8'"):
        world_size(_launch_cfg(hostfile=str(hosts)))
    with pytest.raises(HarnessError, match="needs a hostfile"):
        world_size(_launch_cfg(num_nodes=2))


def _harness(args, home):
    env = os.environ | {"HARNESS_HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([HARNESS, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, named", [
    (["recipe.align.lr=nan"], "recipe.align.lr=nan is invalid"),
    (["launcher=deepspeed", "num_gpus=3"], "16 x 3 = 48"),  # checked for the launched world, before launching
])
def test_harness_train_refuses_a_bad_setting_in_one_line_writing_nothing(tmp_path, args, named):
    done = _harness(["train", "backbone=llama3", *args], tmp_path / "home")
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0]
    assert not (tmp_path / "home").exists() and "launching" not in done.stdout
