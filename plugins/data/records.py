"""The one record form training reads, whatever the source: id, image (path or PIL), conversations."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

IMAGE_TOKEN = "<image>"
ROLES = ("human", "gpt")


@dataclass(frozen=True)
class Record:
    """One training sample in LLaVA's conversation form.

    ``image`` is a file path (real data, opened lazily by :func:`open_image`), a PIL image
    (synthetic data) or None (a text-only sample). ``conversations`` is a list of
    ``{"from": "human"|"gpt", "value": str}``; ``<image>`` marks the image in a human turn.
    """

    id: str
    image: Any
    conversations: list[dict[str, str]]
    source: str = ""  # file or folder the record came from, for error messages


@dataclass(frozen=True)
class BadRow:
    """A row that failed validation: its id (or index) and why."""

    row: str
    problem: str


@dataclass
class LoadedData:
    """Records that passed validation, and the rows dropped under ``on_bad_row="skip"``."""

    records: list[Record] | Any  # a list, or a lazy sequence of Records
    skipped: list[BadRow] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Record:
        return self.records[index]

    def __iter__(self):
        return (self.records[i] for i in range(len(self.records)))


def decode_whole(path: Path) -> Any:
    """Decode an image file completely to RGB PIL, refusing a truncated file even when a library (lmms-eval's
    task module among them) set PIL's LOAD_TRUNCATED_IMAGES globally, which pads a cut file with grey.
    Raises FileNotFoundError, or UnidentifiedImageError/OSError/SyntaxError/ValueError for a bad file."""
    from PIL import Image, ImageFile

    lenient, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with Image.open(path) as image:
            image.load()  # decode now, so a truncated file fails here and not inside a batch
            return image.convert("RGB")
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient


def open_image(record: Record):
    """The record's image as RGB PIL; a corrupt or missing file is a one-line error naming file and row."""
    if record.image is None or not isinstance(record.image, (str, Path)):
        return record.image.convert("RGB") if record.image is not None else None
    path = Path(record.image)
    try:
        return decode_whole(path)
    except FileNotFoundError:
        raise HarnessError(f"image {path} of row {record.id!r} ({record.source}) does not exist",
                           "check data.image_root") from None
    except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        raise HarnessError(f"corrupt image {path} in row {record.id!r} ({record.source}): {exc}",
                           "replace the file or drop the row (data.on_bad_row=skip)") from None


def conversation_problem(conversations: Any, has_image: bool) -> str | None:
    """Why a conversation list is unusable, or None when it is fine."""
    if not isinstance(conversations, list) or not conversations:
        return "conversations is missing or empty"
    for k, turn in enumerate(conversations):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            return f"turn {k} is not {{'from', 'value'}}"
        if turn.get("from") not in ROLES:
            return f"turn {k} has unknown role {turn.get('from')!r} (expected 'human' or 'gpt')"
    mentions = sum(t["value"].count(IMAGE_TOKEN) for t in conversations if t["from"] == "human")
    if has_image and mentions == 0:
        return f"an image is given but no human turn contains {IMAGE_TOKEN}"
    if not has_image and mentions:
        return f"{IMAGE_TOKEN} appears but the row has no image"
    if not any(t["from"] == "gpt" for t in conversations):
        return "no gpt turn to learn from"
    return None
