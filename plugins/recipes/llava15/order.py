"""The deterministic data order of a stage: which samples each rank sees at each optimizer step.

The order is a seeded permutation per epoch, so step k's samples depend only on (seed, k): a
resumed run continues the exact order, and N processes split each global batch into the same
micro-batches one process would accumulate over (so their loss curves match).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache


@lru_cache(maxsize=4)
def epoch_permutation(n_samples: int, seed: int, epoch: int) -> tuple[int, ...]:
    import torch

    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return tuple(torch.randperm(n_samples, generator=generator).tolist())


@dataclass(frozen=True)
class StageOrder:
    """Global batch ``global_batch`` = ``micro_batch`` x ``accumulation`` x ``world_size``."""

    n_samples: int
    global_batch: int
    micro_batch: int
    world_size: int
    seed: int
    epochs: float = 1.0
    max_steps: int | None = None

    @property
    def accumulation(self) -> int:
        return self.global_batch // (self.micro_batch * self.world_size)

    @property
    def total_steps(self) -> int:
        steps = max(1, math.floor(self.epochs * self.n_samples / self.global_batch))
        return min(steps, self.max_steps) if self.max_steps else steps

    def sample(self, position: int) -> int:
        """The dataset index at a global position of the (multi-epoch) stream."""
        epoch, offset = divmod(position, self.n_samples)
        return epoch_permutation(self.n_samples, self.seed, epoch)[offset]

    def micro_batches(self, step: int, rank: int) -> list[list[int]]:
        """The micro-batches (dataset indices) rank ``rank`` runs for optimizer step ``step`` (0-based).

        Micro-batch j of the step is run by rank j // accumulation, so with one process the same
        micro-batches are accumulated in the same order.
        """
        start = step * self.global_batch
        out = []
        for local in range(self.accumulation):
            j = rank * self.accumulation + local
            first = start + j * self.micro_batch
            out.append([self.sample(p) for p in range(first, first + self.micro_batch)])
        return out
