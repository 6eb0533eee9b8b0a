"""The launchers (``launcher``, ``num_gpus``, ``num_nodes``, ``hostfile``): how many processes one starts
(what the recipe's settings are validated against before anything is launched), and the command line
that runs a ``harness`` command in each of them (training, and evaluation inside ``harness run``)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def hostfile_slots(hostfile: str) -> list[int]:
    """Slots per host of a DeepSpeed hostfile (lines like ``node1 slots=8``; ``#`` comments)."""
    path = Path(hostfile)
    if not path.is_file():
        raise HarnessError(f"hostfile {hostfile} does not exist", "fix hostfile= (lines like 'node1 slots=8')")
    slots = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        found = [w.split("=", 1)[1] for w in words[1:] if w.startswith("slots=")]
        if len(found) != 1 or not found[0].isdigit() or int(found[0]) < 1:
            raise HarnessError(f"hostfile {hostfile}: bad line {line.strip()!r}", "write lines like 'node1 slots=8'")
        slots.append(int(found[0]))
    if not slots:
        raise HarnessError(f"hostfile {hostfile} lists no hosts", "write lines like 'node1 slots=8'")
    return slots


def local_devices() -> int:
    """GPUs on this machine (1 on the CPU): what DeepSpeed's launcher would use without --num_gpus."""
    import torch

    return max(1, torch.cuda.device_count())


def check_visible_devices(cfg: Any) -> None:
    """``num_gpus`` above the GPUs this machine shows is an error. On a machine without GPUs ``num_gpus``
    counts CPU processes (gloo), which any number may be."""
    if getattr(cfg.launcher, "value", cfg.launcher) in ("none", "slurm") or not cfg.num_gpus:
        return  # a Slurm cell's GPUs are on the nodes Slurm gives it (harness.slurm checks the partition)
    import torch

    visible = torch.cuda.device_count()
    if visible and cfg.num_gpus > visible:
        shown = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise HarnessError(f"num_gpus={cfg.num_gpus} but this machine shows {visible} GPU(s)"
                           + (f" (CUDA_VISIBLE_DEVICES={shown})" if shown is not None else ""),
                           f"use num_gpus={visible} or fewer, or run where more GPUs are visible")


def world_size(cfg: Any) -> int:
    """The number of processes the configured launcher starts (1 without a launcher)."""
    launcher = getattr(cfg.launcher, "value", cfg.launcher)
    if launcher == "none":
        return 1
    if launcher in ("torchrun", "slurm"):  # a Slurm job runs torchrun (one node) or DeepSpeed (several)
        return (cfg.num_gpus or 1) * cfg.num_nodes
    if cfg.hostfile:
        slots = hostfile_slots(cfg.hostfile)
        if cfg.num_nodes > 1:
            if cfg.num_nodes > len(slots):
                raise HarnessError(f"num_nodes={cfg.num_nodes} but hostfile {cfg.hostfile} lists {len(slots)} hosts",
                                   "lower num_nodes or add hosts")
            slots = slots[:cfg.num_nodes]
        return sum(min(n, cfg.num_gpus) if cfg.num_gpus else n for n in slots)
    if cfg.num_nodes > 1:
        raise HarnessError("launcher=deepspeed with num_nodes > 1 needs a hostfile", "pass hostfile=hosts (lines like 'node1 slots=8')")
    return cfg.num_gpus or local_devices()


def _tool(name: str) -> str:
    """A console script of this environment (beside the running Python), else from PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.is_file() else shutil.which(name)
    if not found:
        raise HarnessError(f"{name} is not installed in this environment", "install it or use another launcher")
    return found


def launch_command(cfg: Any, argv: list[str]) -> list[str]:
    """The launcher command line that runs ``harness <argv>`` in every process."""
    launcher = getattr(cfg.launcher, "value", cfg.launcher)
    script = _tool("harness")
    per_node = str(cfg.num_gpus or 1)
    if launcher == "torchrun":
        cmd = [_tool("torchrun"), "--nproc_per_node", per_node, "--nnodes", str(cfg.num_nodes)]
        if cfg.num_nodes > 1:
            addr, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT", "29500")
            if not addr:
                raise HarnessError("launcher=torchrun with num_nodes > 1 needs MASTER_ADDR (the first node's address)",
                                   "export MASTER_ADDR=<node0> and run the same command on every node, or use launcher=deepspeed hostfile=...")
            cmd += ["--rdzv_backend", "c10d", "--rdzv_endpoint", f"{addr}:{port}"]
        else:
            cmd += ["--standalone"]
        return cmd + [script, *argv]
    if launcher == "deepspeed":
        # --no_local_rank: the harness reads LOCAL_RANK from the environment; its CLI has no --local_rank.
        cmd = [_tool("deepspeed"), "--no_local_rank"]
        if cfg.hostfile:
            hostfile_slots(cfg.hostfile)
            cmd += ["--hostfile", str(cfg.hostfile)]
            if cfg.num_gpus:
                cmd += ["--num_gpus", per_node]
        else:
            cmd += ["--num_gpus", str(world_size(cfg))]  # explicit, so the world size is known beforehand
        if cfg.num_nodes > 1:
            cmd += ["--num_nodes", str(cfg.num_nodes)]
        if os.environ.get("MASTER_PORT"):
            cmd += ["--master_port", os.environ["MASTER_PORT"]]
        return cmd + [script, *argv]
    raise HarnessError(f"unknown launcher {launcher!r}", "use launcher=none, torchrun or deepspeed")
