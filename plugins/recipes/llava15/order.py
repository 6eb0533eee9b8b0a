"""The deterministic data order of a stage: which samples each rank sees at each optimizer step.

The order is a seeded permutation per epoch, so step k's samples depend only on (seed, k): a
resumed run continues the exact order, and N processes split each global batch into the same
micro-batches one process would accumulate over (so their loss curves match).

With modality lengths (``recipe.<stage>.group_by_modality_length``) the global batches are those of
LLaVA's ``group_by_modality_length`` sampler (haotian-liu/LLaVA llava/train/llava_trainer.py): image and
text-only samples share none (but the one holding both modalities' leftovers). Within a global batch
LLaVA deals the samples into micro-batches of even length totals, which balances them but pads each
like a random one; here each micro-batch holds samples of similar length (the batch sorted and cut),
and the micro-batches that ranks run at the same time are neighbours in that order, so they stay
balanced. The cut does not depend on the world size, so N processes still match one.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4)
def epoch_permutation(n_samples: int, seed: int, epoch: int) -> tuple[int, ...]:
    import torch

    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return tuple(torch.randperm(n_samples, generator=generator).tolist())


def modality_grouped(lengths: Sequence[int], global_batch: int, generator: Any) -> list[int]:
    """The megabatches of LLaVA's ``get_modality_length_grouped_indices``: ``lengths`` are positive for
    samples with an image, negative for text-only ones. Each modality is shuffled and cut into
    megabatches of ``global_batch`` samples; the full megabatches of both are shuffled together and the
    two leftovers merged (a full megabatch from them first, the rest last)."""
    import torch

    megabatches: list[list[int]] = []
    leftover: list[int] = []
    for members in ([i for i, n in enumerate(lengths) if n > 0], [i for i, n in enumerate(lengths) if n < 0]):
        if not members:
            continue
        shuffled = [members[i] for i in torch.randperm(len(members), generator=generator).tolist()]
        parts = [shuffled[i:i + global_batch] for i in range(0, len(shuffled), global_batch)]
        megabatches += parts[:-1]
        leftover += parts[-1]
    megabatches = [megabatches[i] for i in torch.randperm(len(megabatches), generator=generator).tolist()]
    if len(leftover) >= global_batch:
        megabatches.insert(0, leftover[:global_batch])
        leftover = leftover[global_batch:]
    return [i for batch in megabatches + [leftover] for i in batch]


def length_sorted_micro_batches(batch: Sequence[int], lengths: Sequence[int], micro_batch: int) -> list[list[int]]:
    """A global batch cut into micro-batches of similar length: sorted longest first (ties keep their
    order), then consecutive runs of ``micro_batch``."""
    ordered = sorted(batch, key=lambda i: abs(lengths[i]), reverse=True)
    return [ordered[i:i + micro_batch] for i in range(0, len(ordered), micro_batch)]


@dataclass(frozen=True)
class StageOrder:
    """Global batch ``global_batch`` = ``micro_batch`` x ``accumulation`` x ``world_size``.

    ``lengths``: each sample's modality length (word count, negative without an image) to group by,
    as LLaVA's ``group_by_modality_length``; None for a plain shuffle. Grouped micro-batches are cut
    from the step's samples sorted by length (see the module docstring).
    """

    n_samples: int
    global_batch: int
    micro_batch: int
    world_size: int
    seed: int
    epochs: float = 1.0
    max_steps: int | None = None
    lengths: Sequence[int] | None = field(default=None, repr=False, compare=False)
    _epochs: dict[int, list[int]] = field(default_factory=dict, init=False, repr=False, compare=False)

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
        if self.lengths is None:
            return epoch_permutation(self.n_samples, self.seed, epoch)[offset]
        return self._grouped(epoch)[offset]

    def _grouped(self, epoch: int) -> list[int]:
        if epoch not in self._epochs:
            import torch

            if len(self.lengths) != self.n_samples:
                raise ValueError(f"{len(self.lengths)} lengths for {self.n_samples} samples")
            generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._epochs.clear()  # one epoch at a time: a 665K-sample order is kept once
            self._epochs[epoch] = modality_grouped(self.lengths, self.global_batch, generator)
        return self._epochs[epoch]

    def micro_batches(self, step: int, rank: int) -> list[list[int]]:
        """The micro-batches (dataset indices) rank ``rank`` runs for optimizer step ``step`` (0-based).

        Micro-batch j of the step is run by rank j // accumulation, so with one process the same
        micro-batches are accumulated in the same order. Grouped by length, the step's micro-batches are
        the same for any world size too; rank r runs those at r, r + world_size, ... of the length order.
        """
        start = step * self.global_batch
        if self.lengths is not None:
            # Local micro-batch k of every rank is the k-th run of world-size neighbours in length order:
            # the ranks' concurrent micro-batches are alike (balanced), and the cut is the same for any world size.
            cut = length_sorted_micro_batches([self.sample(p) for p in range(start, start + self.global_batch)],
                                              self.lengths, self.micro_batch)
            return [cut[local * self.world_size + rank] for local in range(self.accumulation)]
        out = []
        for local in range(self.accumulation):
            j = rank * self.accumulation + local
            first = start + j * self.micro_batch
            out.append([self.sample(p) for p in range(first, first + self.micro_batch)])
        return out
