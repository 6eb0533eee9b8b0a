"""Records (id, image, conversations) -> tokenized training samples, rendered lazily on first use.

Align renders LLaVA's ``plain`` format (image, then caption) from each record's first exchange;
finetune renders the backbone's chat format. Images go through the vision tower's image processor.
Modality lengths (for LLaVA's ``group_by_modality_length``) come from the records' text alone.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from harness.errors import HarnessError

IGNORE_INDEX = -100
RenderFn = Callable[[Sequence[dict], str], Any]  # (conversation, sample id) -> Rendered(input_ids, labels)


class RenderedSamples:
    """A sequence of dicts {input_ids, labels, pixel_values}; each record rendered once, when first read."""

    def __init__(self, records: Sequence[Any], render: RenderFn, image_processor: Any, max_length: int,
                 num_image_tokens: int, image_token_id: int, first_exchange_only: bool = False):
        self.records, self.render, self.image_processor = records, render, image_processor
        self.max_length, self.num_image_tokens, self.image_token_id = max_length, num_image_tokens, image_token_id
        self.first_exchange_only = first_exchange_only
        self._cache: dict[int, dict[str, Any]] = {}
        self._tokens: dict[int, tuple[list[int], list[int]]] = {}
        self._cut: dict[int, int] = {}  # index -> supervised tokens max_length cut from it (truncated samples only)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index not in self._cache:
            self._cache[index] = self._build(self.records[index], self.tokens(index))
            self._tokens.pop(index, None)  # kept in the sample now
        return self._cache[index]

    def tokens(self, index: int) -> tuple[list[int], list[int]]:
        """(input ids, labels) of record ``index`` within ``max_length``, rendered without its image."""
        if index in self._cache:
            return self._cache[index]["input_ids"], self._cache[index]["labels"]
        if index not in self._tokens:
            self._tokens[index] = self._render(self.records[index], index)
        return self._tokens[index]

    def truncation(self) -> dict[str, int]:
        """How ``max_length`` cut the samples rendered so far (after a stage: those it trained on): samples
        rendered, samples cut, supervised tokens cut. A confound across backbones when their tokenizers cut
        different samples (at 256 LLaMA-2's chat format cut 823 of a 5,000-sample epoch, LLaMA-3's 79; the
        organism profile's 384 cuts none)."""
        rendered = set(self._tokens) | set(self._cache)  # _cut holds rendered samples only: _render fills it
        return {"max_length": self.max_length, "samples": len(rendered), "truncated": len(self._cut),
                "supervised_tokens_cut": sum(self._cut.values())}

    def _render(self, record: Any, index: int) -> tuple[list[int], list[int]]:
        conversation = list(record.conversations)
        if self.first_exchange_only:
            conversation = [turn for turn in conversation if turn["from"] != "system"][:2]
        rendered = self.render(conversation, record.id)
        ids, labels = list(rendered.input_ids), list(rendered.labels)
        if len(ids) > self.max_length:
            self._cut[index] = sum(1 for label in labels[self.max_length:] if label != IGNORE_INDEX)
            ids, labels = ids[: self.max_length], labels[: self.max_length]
        if sum(1 for t in ids if t == self.image_token_id) not in (0, self.num_image_tokens):
            raise HarnessError(f"sample {record.id}: recipe.max_length={self.max_length} cuts through its image tokens",
                               f"raise recipe.max_length above {len(rendered.input_ids)}")
        return ids, labels

    def _build(self, record: Any, tokens: tuple[list[int], list[int]]) -> dict[str, Any]:
        from harness_plugins.data.records import open_image

        ids, labels = tokens
        image_tokens = sum(1 for t in ids if t == self.image_token_id)
        if all(label == IGNORE_INDEX for label in labels):
            raise HarnessError(f"sample {record.id} has no assistant tokens within recipe.max_length={self.max_length}",
                               "raise recipe.max_length or fix the sample")
        sample: dict[str, Any] = {"input_ids": ids, "labels": labels}
        image = open_image(record) if record.image is not None else None
        if image_tokens and image is None:
            raise HarnessError(f"sample {record.id} has an <image> placeholder but no image", "fix the sample")
        if image is not None and image_tokens:
            sample["pixel_values"] = self.image_processor(images=image, return_tensors="pt")["pixel_values"][0]
        return sample

    def modality_lengths(self) -> list[int]:
        """Each record's length as LLaVA's ``modality_lengths`` counts it: words over its turns (the first
        exchange in align), negative for a text-only record. Nothing is rendered or decoded."""
        return [modality_length(turns, image, self.first_exchange_only) for turns, image in text_rows(self.records)]


def text_rows(records: Any) -> Iterable[tuple[list[dict], bool]]:
    """(conversations, has an image) per record; a datasets folder is read by column, images undecoded."""
    for holder in (records, getattr(records, "records", None)):  # LoadedData wraps the sequence
        if hasattr(holder, "text_rows"):  # the sequence itself first: ExchangeRecords holds its source as .records
            return holder.text_rows()
    return ((list(r.conversations), r.image is not None) for r in getattr(records, "records", records))


def modality_length(conversation: Sequence[dict], has_image: bool, first_exchange_only: bool = False) -> int:
    """Whitespace-separated words of the turns (at least 1), negative without an image (LLaVA's sign)."""
    turns = [t for t in conversation if t["from"] != "system"][:2] if first_exchange_only else conversation
    words = max(1, sum(len(str(t["value"]).split()) for t in turns))
    return words if has_image else -words


def modality_lengths(samples: Sequence[dict[str, Any]]) -> list[int]:
    """Per sample, the length LLaVA groups by (negative without an image): the records' word counts
    when ``samples`` can say them, else the token count of each tokenized sample."""
    if hasattr(samples, "modality_lengths"):
        return samples.modality_lengths()
    return [len(s["input_ids"]) * (1 if s.get("pixel_values") is not None else -1) for s in samples]
