"""Packing (``recipe.<stage>.pack=k``): up to k single-exchange samples of one image in one sequence.

A packed sequence is the shared prefix (every token up to and including the image's placeholder
tokens, token for token the same in each exchange) followed by each exchange's remaining tokens.
Each token carries a block number: 0 for the prefix, j for the j-th exchange. The collate turns
blocks into a 4-D attention mask (:func:`block_mask`): an exchange's tokens see the prefix and,
causally, themselves, never another exchange; position ids of each exchange continue from the
prefix's end (each restarts there). So every supervised token is predicted from exactly the context
it has as a separate sample: the loss is that of the exchanges run one by one (tests/recipes/test_pack.py),
while the LLM runs over the image tokens once per k exchanges instead of k times.

Which samples share an image comes from the records (:func:`image_groups`): the exchanges that
:class:`~harness_plugins.recipes.llava15.mix.ExchangeRecords` cut from one record. Exchanges whose
prefixes differ (an image placed after per-exchange text), or whose first token after the prefix is
supervised (the previous exchange's last token would learn to predict it), are not packed: they stay
separate samples. The first token after the prefix is never supervised in the chat formats (it is
user text). Records of any other kind are never packed.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

IGNORE_INDEX = -100
PREFIX = 0  # the block number of the shared prefix


def image_groups(records: Any) -> list[list[int]]:
    """Indices of ``records`` grouped by the record their exchange came from (one image), in order;
    records that say nothing of their groups are each their own group."""
    for holder in (records, getattr(records, "records", None)):  # LoadedData wraps the sequence
        if hasattr(holder, "image_groups"):
            return holder.image_groups()
    return [[i] for i in range(len(records))]


def shared_prefix_length(members: Sequence[tuple[list[int], list[int]]], image_token_id: int) -> int:
    """The length of the prefix the members (input ids, labels) share up to and including their last
    image token, or 0 when they cannot be packed (no image, prefixes that differ, a supervised token
    in the prefix or right after it, nothing after it)."""
    ids0 = members[0][0]
    image_at = [i for i, t in enumerate(ids0) if t == image_token_id]
    if not image_at:
        return 0
    end = image_at[-1] + 1
    for ids, labels in members:
        if (len(ids) <= end or ids[:end] != ids0[:end] or image_token_id in ids[end:]
                or any(label != IGNORE_INDEX for label in labels[:end + 1])):
            return 0
    return end


def pack_members(members: Sequence[dict[str, Any]], prefix: int) -> dict[str, Any]:
    """One sample from rendered samples that share their first ``prefix`` tokens (and image): input
    ids, labels, position ids and blocks (0: prefix, j: the j-th exchange), the first one's image."""
    first = members[0]
    ids, labels = list(first["input_ids"][:prefix]), list(first["labels"][:prefix])
    positions, blocks = list(range(prefix)), [PREFIX] * prefix
    for j, member in enumerate(members, start=1):
        rest = len(member["input_ids"]) - prefix
        ids += member["input_ids"][prefix:]
        labels += member["labels"][prefix:]
        positions += range(prefix, prefix + rest)
        blocks += [j] * rest
    packed = {"input_ids": ids, "labels": labels, "position_ids": positions, "blocks": blocks,
              "exchanges": len(members)}
    if first.get("pixel_values") is not None:
        packed["pixel_values"] = first["pixel_values"]
    return packed


class PackedSamples:
    """Rendered samples (:class:`~harness_plugins.recipes.llava15.samples.RenderedSamples`) regrouped:
    the members of each image group in runs of at most ``pack``, each run one packed sample when its
    members share their prefix, else its members one by one. Deciding that tokenizes the grouped
    records' text once, here (no image is decoded); samples are built lazily, as they are read."""

    def __init__(self, samples: Any, groups: Sequence[Sequence[int]], pack: int):
        self.samples, self.pack = samples, pack
        self.units: list[tuple[list[int], int]] = []  # (sample indices, shared prefix length; 0: one sample)
        for group in groups:
            for start in range(0, len(group), pack):
                run = list(group[start:start + pack])
                prefix = (shared_prefix_length([samples.tokens(i) for i in run], samples.image_token_id)
                          if len(run) > 1 else 0)
                self.units += [(run, prefix)] if prefix else [([i], 0) for i in run]

    def __len__(self) -> int:
        return len(self.units)

    def __getitem__(self, index: int) -> dict[str, Any]:
        run, prefix = self.units[index]
        if not prefix:
            return self.samples[run[0]]
        return pack_members([self.samples[i] for i in run], prefix)

    def exchanges(self) -> int:
        """How many single-exchange samples the packed samples hold (the records' count)."""
        return sum(len(run) for run, _ in self.units)

    def packed_units(self) -> int:
        """How many samples hold more than one exchange."""
        return sum(1 for _, prefix in self.units if prefix)

    def modality_lengths(self) -> list[int]:
        """Per packed sample, the sum of its members' lengths (for the length-grouped sampler)."""
        from harness_plugins.recipes.llava15.samples import modality_lengths

        inner = modality_lengths(self.samples)
        return [sum(inner[i] for i in run) for run, _ in self.units]


def block_mask(blocks: Any, lengths: Sequence[int]) -> Any:
    """(batch, 1, L, L) boolean attention mask from per-token blocks (batch, L): query a sees key b
    when b <= a and b is in the prefix (block 0) or in a's own block, both within the row's length.
    A padded query sees only the row's first token (a row with no key gives NaN in SDPA); no real
    token sees padding. So the diagonal is true exactly at the real tokens (see :func:`real_tokens`)."""
    import torch

    batch, longest = blocks.shape
    causal = torch.ones(longest, longest, dtype=torch.bool).tril()
    same = (blocks[:, :, None] == blocks[:, None, :]) | (blocks[:, None, :] == PREFIX)
    real = torch.arange(longest)[None, :] < torch.as_tensor(list(lengths))[:, None]
    mask = causal[None] & same & real[:, :, None] & real[:, None, :]
    mask[:, :, 0] |= ~real
    return mask[:, None]


def real_tokens(mask: Any) -> int:
    """Tokens that enter the forward pass (not padding) of a batch with a :func:`block_mask`."""
    return int(mask.diagonal(dim1=-2, dim2=-1).sum())


def additive_mask(mask: Any, dtype: Any) -> Any:
    """A boolean 4-D mask as the additive float mask every attention backend takes (eager adds it to
    the scores; SDPA and the xformers adapter accept it): 0 where visible, the dtype's lowest value
    elsewhere."""
    import torch

    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
