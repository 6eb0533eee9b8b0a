"""Bad input of the scale-out settings, each one line and exit code 2 before anything is written:
Slurm settings the partition cannot satisfy (checked against `sinfo`), no Slurm at all, num_gpus above
the GPUs this machine shows, sweep.parallel below 1."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from clirunner import run_cli
from harness.errors import HarnessError
from harness.launchers import check_visible_devices
from harness.slurm import check_settings, parse_sinfo

SINFO = "4|gpu:h100:8(S:0-1)|2-00:00:00\n2|gpu:h100:4|2-00:00:00\n"


def _cfg(**kw):
    slurm = dict(partition="gpu", account=None, time_min=60, cpus_per_gpu=8, mem_gb=None, executor="slurm")
    slurm.update(kw.pop("slurm", {}))
    return SimpleNamespace(launcher="slurm", num_gpus=kw.pop("num_gpus", 8), num_nodes=kw.pop("num_nodes", 2),
                           slurm=SimpleNamespace(**slurm), **kw)


def test_sinfo_output_gives_nodes_gpus_per_node_and_the_time_limit():
    assert parse_sinfo(SINFO) == parse_sinfo(SINFO.replace("(S:0-1)", "")) != None  # noqa: E711
    limits = parse_sinfo(SINFO)
    assert (limits.nodes, limits.gpus_per_node, limits.time_min) == (6, 8, 2880)
    assert parse_sinfo("1|(null)|infinite\n").time_min is None and parse_sinfo("1|(null)|30\n").gpus_per_node == 0
    assert parse_sinfo("1|gpu:2|1:30:00\n").time_min == 90


def test_settings_the_partition_can_satisfy_pass():
    check_settings(_cfg(), sinfo=lambda partition: SINFO)


@pytest.mark.parametrize("cfg, message", [
    (_cfg(num_nodes=7), "num_nodes=7 but partition gpu has 6 node"),
    (_cfg(num_gpus=16), "num_gpus=16 per node but partition gpu has 8 GPU"),
    (_cfg(slurm={"time_min": 3000}), "slurm.time_min=3000 but partition gpu allows 2880 minutes"),
    (_cfg(slurm={"time_min": 0}), "slurm.time_min=0 must be 1 or more"),
    (_cfg(slurm={"executor": "kubernetes"}), "slurm.executor=kubernetes is not an executor"),
    (_cfg(slurm={"executor": "local"}), "slurm.executor=local runs jobs on this machine only"),
])
def test_settings_no_job_can_run_with_are_one_line(cfg, message):
    with pytest.raises(HarnessError, match=message) as caught:
        check_settings(cfg, sinfo=lambda partition: SINFO)
    assert "\n" not in caught.value.one_line()


def test_an_unknown_partition_is_named():
    with pytest.raises(HarnessError, match="Slurm knows no partition gpu"):
        check_settings(_cfg(), sinfo=lambda partition: "")


def test_num_gpus_above_the_visible_gpus_is_an_error_and_cpu_processes_are_not(monkeypatch):
    import torch

    cfg = SimpleNamespace(launcher="torchrun", num_gpus=4, num_nodes=1, hostfile=None)
    check_visible_devices(cfg)  # no GPU here: num_gpus counts gloo processes
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(HarnessError, match="num_gpus=4 but this machine shows 2 GPU"):
        check_visible_devices(cfg)
    check_visible_devices(SimpleNamespace(launcher="torchrun", num_gpus=2, num_nodes=1, hostfile=None))


@pytest.mark.parametrize("words, message", [
    (["launcher=slurm"], "launcher=slurm needs Slurm's sbatch"),
    (["launcher=slurm", "slurm.executor=local", "slurm.time_min=0"], "slurm.time_min=0 must be 1 or more"),
    (["-m", "backbone=llama1,llama2", "sweep.parallel=0"], "sweep.parallel=0 must be 1 or more"),
])
def test_bad_scale_out_input_on_the_command_line_is_one_line_exit_2_and_writes_nothing(tmp_path, words, message):
    home = tmp_path / "home"
    done = run_cli(["run", "task=vqa", *words], home=home, env={"PATH": "/usr/bin:/bin"}, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and message in done.stderr
    assert not home.exists()


def test_launcher_none_on_the_command_line_is_the_launcher_not_null(fake_plugins):
    from harness.config import parse_overrides, resolve

    resolved = resolve(parse_overrides(["launcher=none", "num_gpus=null"]), fake_plugins)
    assert resolved.config.launcher.value == "none" and resolved.config.num_gpus is None
