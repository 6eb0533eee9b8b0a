"""Batching of already-tokenized samples (dicts of input_ids, labels, pixel_values) for the model."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

IGNORE_INDEX = -100


def collate(samples: Sequence[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Right-pad to the longest sample; padding is masked in attention and ignored by the loss.

    When a sample is packed (``recipe.<stage>.pack``, :mod:`.pack`), the batch carries position ids and
    a 4-D boolean block mask instead of the 2-D padding mask (an unpacked sample of such a batch is one
    block, plain causal); ``stage`` makes it additive in the compute dtype."""
    import torch

    longest = max(len(s["input_ids"]) for s in samples)
    input_ids = torch.full((len(samples), longest), pad_id, dtype=torch.long)
    labels = torch.full((len(samples), longest), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(samples), longest), dtype=torch.long)
    for row, sample in enumerate(samples):
        n = len(sample["input_ids"])
        input_ids[row, :n] = torch.as_tensor(sample["input_ids"], dtype=torch.long)
        labels[row, :n] = torch.as_tensor(sample["labels"], dtype=torch.long)
        attention[row, :n] = 1
    batch = {"input_ids": input_ids, "labels": labels, "attention_mask": attention}
    if any("blocks" in s for s in samples):
        batch.update(_packed_mask_and_positions(samples, longest))
    # Text-only samples have no image; the model matches images to <image> tokens in order.
    images = [torch.as_tensor(s["pixel_values"]) for s in samples if s.get("pixel_values") is not None]
    if images:
        batch["pixel_values"] = torch.stack(images)
    return batch


def _packed_mask_and_positions(samples: Sequence[dict[str, Any]], longest: int) -> dict[str, Any]:
    import torch

    from harness_plugins.recipes.llava15.pack import block_mask

    blocks = torch.zeros((len(samples), longest), dtype=torch.long)
    positions = torch.zeros((len(samples), longest), dtype=torch.long)
    for row, sample in enumerate(samples):
        n = len(sample["input_ids"])
        blocks[row, :n] = torch.as_tensor(sample.get("blocks", [1] * n), dtype=torch.long)
        positions[row, :n] = torch.as_tensor(sample.get("position_ids", range(n)), dtype=torch.long)
    return {"attention_mask": block_mask(blocks, [len(s["input_ids"]) for s in samples]), "position_ids": positions}


def supervised_tokens(batch: dict[str, Any]) -> int:
    """Tokens that enter the forward pass (not padding): the tokens/s numerator. A packed batch counts
    its shared prefix once per sequence, as the forward pass does."""
    mask = batch["attention_mask"]
    if mask.dim() == 4:
        from harness_plugins.recipes.llava15.pack import real_tokens

        return real_tokens(mask)
    return int(mask.sum())
