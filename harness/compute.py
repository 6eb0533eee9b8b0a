"""What computed a result's floats: the GPU, or the CPU and the kernel set torch picked for it.

Stored beside the library versions of every run and in every training summary. On the same seed and
config, a CPU whose vector instructions differ (AVX2 against AVX-512) trains a different model: ATen and
oneDNN choose their kernels from the CPU, one step's float differences are tiny and 1,000 steps compound
them. On one machine the same kernel set gives the same floats run after run. So a number that does not
reproduce on another machine is first checked against this record, and differences between machines are
read like differences between seeds, never as findings.
"""
from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what :mod:`platform` says, else the architecture."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def compute_provenance(device: str | None = None) -> str:
    """One line naming what computes on ``device`` ("cpu", "cuda", "cuda:1"; None: a GPU when there is one,
    else the CPU): for the CPU its name and the kernel set torch dispatches to
    (``torch.backends.cpu.get_cpu_capability()``: DEFAULT, AVX2, AVX512, ...), for a GPU its name and compute
    capability."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(device)
        return f"{torch.cuda.get_device_name(device)} (compute capability {major}.{minor})"
    return f"{cpu_name()}, {torch.backends.cpu.get_cpu_capability()} kernels"
