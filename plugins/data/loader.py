"""Load training data into :class:`Record` form: LLaVA-format JSON files or ``datasets`` folders.

    load_training_data("llava_v1_5_mix665k.json", image_root="data/", on_bad_row="skip")
    load_training_data(ensure_scene_data(root) / "instruct")      # the synthetic world, same form

LLaVA JSON: ``[{"id", "image", "conversations": [{"from": "human"|"gpt", "value"}]}]`` with image
paths relative to ``image_root`` (the 558K and 665K files of LLaVA-1.5 load unchanged). A
``datasets`` folder needs the columns ``id``, ``image`` (Image) and ``conversations``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

from .records import BadRow, LoadedData, Record, conversation_problem

ON_BAD_ROW = ("error", "skip")
_SHOWN = 3  # bad rows listed in an error


def _check_mode(on_bad_row: str) -> None:
    if on_bad_row not in ON_BAD_ROW:
        raise HarnessError(f"data.on_bad_row={on_bad_row!r} is not one of {', '.join(ON_BAD_ROW)}",
                           "use data.on_bad_row=error or data.on_bad_row=skip")


def _finish(records: Any, bad: list[BadRow], source: str, on_bad_row: str) -> LoadedData:
    if bad and on_bad_row == "error":
        shown = "; ".join(f"row {b.row}: {b.problem}" for b in bad[:_SHOWN])
        more = f" (and {len(bad) - _SHOWN} more)" if len(bad) > _SHOWN else ""
        raise HarnessError(f"{len(bad)} bad row(s) in {source}: {shown}{more}",
                           "fix them, or set data.on_bad_row=skip to drop them")
    return LoadedData(records=records, skipped=bad, source=source)


def load_llava_json(path: str | Path, image_root: str | Path | None = None,
                    on_bad_row: str = "error") -> LoadedData:
    """Records from a LLaVA-format JSON file; bad rows raise (listing the first few) or are skipped."""
    _check_mode(on_bad_row)
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    try:
        rows = json.loads(path.read_text())
    except FileNotFoundError:
        raise HarnessError(f"training data file {path} does not exist", "check data.train") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path} is not valid JSON ({exc})", "data.train must be a LLaVA-format JSON list") from None
    if not isinstance(rows, list):
        raise HarnessError(f"{path} holds a JSON {type(rows).__name__}, not a list of rows",
                           'expected [{"id", "image", "conversations"}, ...]')
    records, bad = [], []
    for index, row in enumerate(rows):
        row_id = str(row.get("id", f"#{index}")) if isinstance(row, dict) else f"#{index}"
        problem, record = _validate_row(row, row_id, root, str(path))
        if problem:
            bad.append(BadRow(row_id, problem))
        else:
            records.append(record)
    return _finish(records, bad, str(path), on_bad_row)


def _validate_row(row: Any, row_id: str, root: Path, source: str) -> tuple[str | None, Record | None]:
    if not isinstance(row, dict):
        return "not a JSON object", None
    image = row.get("image")
    if image is not None:
        if not isinstance(image, str) or not image:
            return f"image must be a path string, got {image!r}", None
        image_path = (root / image) if not Path(image).is_absolute() else Path(image)
        if not image_path.is_file():
            return f"image file {image_path} not found", None
        image = str(image_path)
    problem = conversation_problem(row.get("conversations"), image is not None)
    if problem:
        return problem, None
    return None, Record(id=row_id, image=image, conversations=row["conversations"], source=source)


class DatasetRecords:
    """A lazy sequence of Records over a ``datasets.Dataset`` (images decoded on access)."""

    def __init__(self, dataset: Any, source: str, keep: list[int] | None = None):
        self.dataset, self.source, self.keep = dataset, source, keep

    def __len__(self) -> int:
        return len(self.keep) if self.keep is not None else len(self.dataset)

    def __getitem__(self, index: int) -> Record:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        row = self.dataset[self.keep[index] if self.keep is not None else index]
        return Record(id=str(row["id"]), image=row.get("image"), conversations=row["conversations"],
                      source=self.source)

    def text_rows(self) -> list[tuple[list[dict[str, str]], bool]]:
        """(conversations, has an image) of every record, read by column without decoding an image."""
        rows = self.dataset.select_columns(["conversations"])["conversations"]
        if "image" in self.dataset.column_names:
            present = self.dataset.select_columns(["image"]).with_format("arrow")["image"].is_valid().to_pylist()
        else:
            present = [False] * len(rows)
        indices = self.keep if self.keep is not None else range(len(rows))
        return [(rows[i], present[i]) for i in indices]


def load_dataset_folder(folder: str | Path, on_bad_row: str = "error") -> LoadedData:
    """Records from a ``datasets`` folder with columns id, image, conversations (e.g. the scene build)."""
    _check_mode(on_bad_row)
    import datasets

    folder = Path(folder)
    try:
        dataset = datasets.load_from_disk(str(folder))
    except FileNotFoundError as exc:
        raise HarnessError(f"{folder} is not a datasets folder ({exc})",
                           "point data.train at a folder written by save_to_disk or at a LLaVA JSON file") from None
    if isinstance(dataset, datasets.DatasetDict):
        raise HarnessError(f"{folder} holds several splits ({', '.join(dataset)})",
                           f"point data.train at one of them, e.g. {folder / next(iter(dataset))}")
    missing = {"id", "conversations"} - set(dataset.column_names)
    if missing:
        raise HarnessError(f"{folder} lacks column(s) {', '.join(sorted(missing))}",
                           "a training dataset needs id, image and conversations")
    has_image = "image" in dataset.column_names
    bad, keep = [], []
    # validate without decoding images: only their presence matters here
    texts = dataset.select_columns([c for c in ("id", "conversations", "image") if c != "image" or has_image])
    if has_image:
        texts = texts.cast_column("image", datasets.Image(decode=False))
    for index, row in enumerate(texts):
        problem = conversation_problem(row["conversations"], has_image and row.get("image") is not None)
        if problem:
            bad.append(BadRow(str(row["id"]), problem))
        else:
            keep.append(index)
    records = DatasetRecords(dataset, str(folder), keep if bad else None)
    return _finish(records, bad, str(folder), on_bad_row)


def load_training_data(train: str | Path, image_root: str | Path | None = None,
                       on_bad_row: str = "error") -> LoadedData:
    """Records from ``train``: a LLaVA JSON file, or a ``datasets`` folder in the same form."""
    path = Path(train).expanduser()
    if path.is_dir():
        return load_dataset_folder(path, on_bad_row)
    if path.suffix.lower() == ".json" or path.is_file():
        return load_llava_json(path, image_root, on_bad_row)
    raise HarnessError(f"training data {path} does not exist",
                       "set data.train to a LLaVA JSON file or a datasets folder")
