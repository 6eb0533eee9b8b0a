"""Batching of already-tokenized samples (dicts of input_ids, labels, pixel_values) for the model."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

IGNORE_INDEX = -100


def collate(samples: Sequence[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Right-pad to the longest sample; padding is masked in attention and ignored by the loss."""
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
    # Text-only samples have no image; the model matches images to <image> tokens in order.
    images = [torch.as_tensor(s["pixel_values"]) for s in samples if s.get("pixel_values") is not None]
    if images:
        batch["pixel_values"] = torch.stack(images)
    return batch


def supervised_tokens(batch: dict[str, Any]) -> int:
    """Tokens that enter the forward pass (not padding): the tokens/s numerator."""
    return int(batch["attention_mask"].sum())
