"""How many training processes a run's launcher starts (``launcher``, ``num_gpus``, ``num_nodes``,
``hostfile``): what the recipe's settings are validated against before anything is launched."""
from __future__ import annotations

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


def world_size(cfg: Any) -> int:
    """The number of processes the configured launcher starts (1 without a launcher)."""
    launcher = getattr(cfg.launcher, "value", cfg.launcher)
    if launcher == "none":
        return 1
    if launcher == "torchrun":
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
