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


def setup() -> DistInfo:
    """Initialise torch.distributed once (reusing an existing group) and pick DeepSpeed's accelerator."""
    import torch

    sanitize_cuda_arch_list()
    cuda = torch.cuda.is_available()
    if not cuda:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import torch.distributed as dist

    if not dist.is_initialized():
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1",
                              MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local_rank)
        import deepspeed

        deepspeed.init_distributed(dist_backend="nccl" if cuda else "gloo", verbose=False)
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
