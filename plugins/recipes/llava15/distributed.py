"""Process group set-up for the recipe: one process (a gloo/nccl group of one on a free local port)
or a process launched by torchrun / DeepSpeed's launcher (RANK and WORLD_SIZE in the environment)."""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: str  # "cpu" or "cuda:N"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def sanitize_cuda_arch_list() -> None:
    """DeepSpeed's op builder parses TORCH_CUDA_ARCH_LIST with int(); entries like '9.0a' crash it."""
    value = os.environ.get("TORCH_CUDA_ARCH_LIST")
    if value:
        parts = [p.rstrip("aAfF+PTX").rstrip("+") or p for p in value.replace(";", " ").split()]
        os.environ["TORCH_CUDA_ARCH_LIST"] = ";".join(dict.fromkeys(parts))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launched() -> bool:
    """Whether this process was started by torchrun or DeepSpeed's launcher (they set RANK and WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup() -> DistInfo:
    """Initialise torch.distributed once (reusing an existing group) and pick DeepSpeed's accelerator."""
    import torch

    sanitize_cuda_arch_list()
    cuda = torch.cuda.is_available()
    if not cuda:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import torch.distributed as dist

    if not dist.is_initialized():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local_rank)
        backend = "nccl" if cuda else "gloo"
        if not launched():
            # A group of one on a free port, set up without touching os.environ: child processes
            # (a launcher, a test's subprocess) must not believe they were launched by us.
            dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
        import deepspeed

        from harness.quiet import captured_stdout

        with captured_stdout():  # on the CPU, "DeepSpeed ...shm_comm_op built successfully" on every start
            deepspeed.init_distributed(dist_backend=backend, verbose=False, auto_mpi_discovery=False)
    if not launched():
        # DeepSpeed's engine asserts LOCAL_RANK; set it on every call, also when a group of one already
        # exists (a second training in this process after someone cleared it). RANK/WORLD_SIZE stay unset.
        os.environ.setdefault("LOCAL_RANK", "0")
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    return DistInfo(rank, world, local_rank, f"cuda:{local_rank}" if cuda else "cpu")


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()


def mean_across_ranks(value: float) -> float:
    """The mean of a float over all ranks (the logged loss of a step)."""
    import torch
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_world_size() == 1:
        return value
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / dist.get_world_size()


def sum_across_ranks(value: int) -> int:
    import torch
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_world_size() == 1:
        return value
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tensor = torch.tensor([value], dtype=torch.int64, device=device)
    dist.all_reduce(tensor)
    return int(tensor.item())


def broadcast_error(message: str | None) -> str | None:
    """Rank 0's error message (or None) on every rank, so all ranks stop together."""
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_world_size() == 1:
        return message
    box = [message]
    dist.broadcast_object_list(box, src=0)
    return box[0]
