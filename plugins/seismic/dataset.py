"""Writes the seismic world as Hugging Face ``datasets`` folders: evaluation, validation and train splits.

Layout of one build (``ensure_seismic_data(root, seed)`` returns the folder)::

    <root>/seed0/                      (seed0-<hash> when sizes differ from the defaults)
        manifest.json                  generator version, seed, sizes, counts, fingerprint
        seismic_description/ seismic_coordinates/
                                       DatasetDict {"test": ...}: id, image, prompt, answer, qtype,
                                       capability, section (the annotation as JSON)
        seismic_description_val/ seismic_coordinates_val/
                                       the same tasks on other sections: the validation split, where
                                       hyperparameters and budgets are chosen
        train/                         Dataset: id, image, conversations (LLaVA format, a description
                                       turn and a coordinate turn), qtypes, section; the seismic
                                       part of the finetune mix (data.seismic, recipes/llava15/mix.py)

Every section of every split comes from one seeded stream with duplicates skipped, so no two splits
share a section. The build happens in a temporary folder renamed into place, as the scene world's.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

from .language import DESCRIBE_PROMPT, DESCRIPTION_TYPE, coordinate_question, describe
from .model import DEFAULT_IMAGE_SIZE, GENERATOR_VERSION, Section, generate_section
from .render import render

EVAL_TASKS: tuple[str, ...] = ("seismic_description", "seismic_coordinates")
VALIDATION_TASKS: tuple[str, ...] = tuple(f"{t}_val" for t in EVAL_TASKS)
TRAIN_SPLIT = "train"
MANIFEST = "manifest.json"
IMAGE_TOKEN = "<image>"
CAPABILITY = {"seismic_description": "perception", "seismic_coordinates": "structured-output"}

Progress = Callable[[str, int, int], None]  # (split, done, total)


@dataclass(frozen=True)
class SeismicDataSizes:
    """How much to build; the defaults build in seconds on one core."""

    train: int = 1000
    eval: int = 300  # items per evaluation task
    validation: int = 300  # items per validation task
    image_size: int = DEFAULT_IMAGE_SIZE

    def counts(self) -> dict[str, int]:
        return {**{t: self.eval for t in EVAL_TASKS}, **{t: self.validation for t in VALIDATION_TASKS},
                TRAIN_SPLIT: self.train}


def fingerprint(seed: int, sizes: SeismicDataSizes) -> str:
    text = json.dumps({"world": "seismic", "version": GENERATOR_VERSION, "seed": seed, **asdict(sizes)},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_root() -> Path:
    """Where the harness keeps seismic data: ``$HARNESS_HOME/data/seismic``."""
    from harness.paths import home

    return home() / "data" / "seismic"


def data_dir(root: Path, seed: int = 0, sizes: SeismicDataSizes | None = None) -> Path:
    """Where the build for (seed, sizes) lives under ``root``."""
    sizes = sizes or SeismicDataSizes()
    name = f"seed{seed}" if sizes == SeismicDataSizes() else f"seed{seed}-{fingerprint(seed, sizes)[:8]}"
    return Path(root) / name


def sections(seed: int, sizes: SeismicDataSizes):
    """(split, index, section, rng) for all splits in a fixed order, never repeating a section."""
    rng = random.Random(f"seismic-{seed}")
    seen: set[str] = set()
    for split, count in sizes.counts().items():
        i = 0
        while i < count:
            section = generate_section(rng, image_size=sizes.image_size)
            key = json.dumps({k: v for k, v in section.to_dict().items() if k != "noise_seed"}, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            yield split, i, section, rng
            i += 1


def _turn(human: str, gpt: str) -> list[dict[str, str]]:
    return [{"from": "human", "value": human}, {"from": "gpt", "value": gpt}]


def _row(split: str, index: int, section: Section, rng: random.Random) -> dict[str, Any]:
    row: dict[str, Any] = {"id": f"{split}-{index:06d}", "image": render(section),
                           "section": json.dumps(section.to_dict())}
    question = coordinate_question(section, rng)
    if split == TRAIN_SPLIT:
        row["conversations"] = (_turn(f"{IMAGE_TOKEN}\n{DESCRIBE_PROMPT}", describe(section))
                                + _turn(question.question, question.answer))
        row["qtypes"] = [DESCRIPTION_TYPE, question.qtype]
        return row
    task = split.removesuffix("_val")
    if task == "seismic_description":
        row.update(prompt=DESCRIBE_PROMPT, answer=describe(section), qtype=DESCRIPTION_TYPE)
    else:
        row.update(prompt=question.question, answer=question.answer, qtype=question.qtype)
    row["capability"] = CAPABILITY[task]
    return row


def _features(split: str):
    import datasets

    base = {"id": datasets.Value("string"), "image": datasets.Image(), "section": datasets.Value("string")}
    if split == TRAIN_SPLIT:
        turn = {"from": datasets.Value("string"), "value": datasets.Value("string")}
        extra = {"conversations": datasets.List(turn), "qtypes": datasets.List(datasets.Value("string"))}
    else:
        extra = {k: datasets.Value("string") for k in ("prompt", "answer", "qtype", "capability")}
    return datasets.Features({**base, **extra})


def build_seismic_data(out: Path, seed: int = 0, sizes: SeismicDataSizes | None = None,
                       progress: Progress | None = None) -> Path:
    """Build every split into ``out`` (which must not exist yet): temp folder, then rename."""
    import datasets

    datasets.disable_progress_bars()
    sizes = sizes or SeismicDataSizes()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    rows: dict[str, list[dict[str, Any]]] = {split: [] for split in sizes.counts()}
    totals = sizes.counts()
    try:
        for split, index, section, rng in sections(seed, sizes):
            rows[split].append(_row(split, index, section, rng))
            if progress:
                progress(split, index + 1, totals[split])
        for split, items in rows.items():
            ds = datasets.Dataset.from_list(items, features=_features(split))
            if split == TRAIN_SPLIT:
                ds.save_to_disk(str(tmp / split))
            else:
                datasets.DatasetDict({"test": ds}).save_to_disk(str(tmp / split))
        manifest = {
            "generator": "harness_plugins.seismic", "generator_version": GENERATOR_VERSION, "seed": seed,
            "sizes": asdict(sizes), "counts": {k: len(v) for k, v in rows.items()},
            "fingerprint": fingerprint(seed, sizes), "eval_tasks": list(EVAL_TASKS),
            "validation_tasks": list(VALIDATION_TASKS), "train_splits": [TRAIN_SPLIT],
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        try:
            os.rename(tmp, out)
        except OSError:
            if not (out / MANIFEST).is_file():  # not another process that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a build; one-line error when the folder is not one."""
    path = Path(folder) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HarnessError(f"{folder} is not a seismic data build ({path.name}: {exc})",
                           "delete the folder so it is rebuilt") from None


def ensure_seismic_data(root: Path, seed: int = 0, sizes: SeismicDataSizes | None = None,
                        progress: Progress | None = None, rebuild: bool = False) -> Path:
    """The build for (seed, sizes) under ``root``: reused when present and current, built otherwise
    (a build of an older generator version is replaced)."""
    sizes = sizes or SeismicDataSizes()
    out = data_dir(root, seed, sizes)
    if out.exists():
        current = (out / MANIFEST).is_file() and read_manifest(out).get("fingerprint") == fingerprint(seed, sizes)
        if current and not rebuild:
            return out
        aside = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, aside)
        shutil.rmtree(aside, ignore_errors=True)
    return build_seismic_data(out, seed, sizes, progress)
