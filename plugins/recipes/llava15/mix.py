"""The finetune mix: data.train's conversations, then the seismic conversations ``data.seismic`` names.

``data.seismic=auto`` (the default) is ``true`` with ``data.train=scene`` and ``false`` with your own
data.train.
``data.seismic=true`` adds the train split of the seismic world (built on demand under
``$HARNESS_HOME/data/seismic/seed<data.scene_seed>/``, like the scene world; its evaluation and
validation splits share no section with it), each conversation's two exchanges (the description, the
coordinate question) as two records, each with the image, as the tasks ask them. Whole, a
conversation is 280-360 tokens with the organisms' tokenizers; when the organism profile's
``max_length`` was 256 (the LLaMA-1 organism's context; 384 since) the coordinate answer, last, was
cut from every one for LLaMA-1 and LLaMA-2 and from 93% for LLaMA-3. ``false`` adds nothing; a path adds a
LLaVA JSON file (images relative to its folder) or a ``datasets`` folder in the same form, its
conversations as they are. The mix is one record sequence, so the recipe's sampler shuffles it as a
whole (seeded, by modality length when the stage groups by it). The align stage never reads it.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

from harness_plugins.data.records import IMAGE_TOKEN, LoadedData, Record


class MixedRecords:
    """Several record sequences read as one, in order (lazy: nothing is decoded until read)."""

    def __init__(self, parts: Sequence[Any]):
        self.parts = list(parts)
        self.starts = [0]
        for part in self.parts:
            self.starts.append(self.starts[-1] + len(part))

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, index: int) -> Record:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = bisect_right(self.starts, index) - 1
        return self.parts[k][index - self.starts[k]]

    def text_rows(self) -> list[tuple[list[dict], bool]]:
        """(conversations, has an image) of every record, each part read as it reads itself."""
        from harness_plugins.recipes.llava15.samples import text_rows

        return [row for part in self.parts for row in text_rows(part)]

    def image_groups(self) -> list[list[int]]:
        """Each part's image groups (:func:`~harness_plugins.recipes.llava15.pack.image_groups`), as indices of the mix."""
        from harness_plugins.recipes.llava15.pack import image_groups

        return [[start + i for i in group] for part, start in zip(self.parts, self.starts) for group in image_groups(part)]


class ExchangeRecords:
    """Each record's exchanges (human turn, gpt turn) as records of their own, the image with each:
    record ``id`` gives ``id/0``, ``id/1``, ...; ``<image>`` opens every human turn that lacks it."""

    def __init__(self, records: Any, keep: Optional[Callable[[int, int], bool]] = None):
        """``keep(i, k)``: whether exchange k of record i is one (all of them when None)."""
        from harness_plugins.recipes.llava15.samples import text_rows

        self.records, self.rows = records, list(text_rows(records))
        self.index = [(i, k) for i, (turns, _) in enumerate(self.rows) for k in range(len(turns) // 2)
                      if keep is None or keep(i, k)]

    def __len__(self) -> int:
        return len(self.index)

    @staticmethod
    def _exchange(turns: Sequence[dict], k: int, has_image: bool) -> list[dict]:
        human, gpt = dict(turns[2 * k]), dict(turns[2 * k + 1])
        if has_image and IMAGE_TOKEN not in human["value"]:
            human["value"] = f"{IMAGE_TOKEN}\n{human['value']}"
        return [human, gpt]

    def __getitem__(self, index: int) -> Record:
        i, k = self.index[index]
        record = self.records[i]
        turns = self._exchange(record.conversations, k, record.image is not None)
        return Record(id=f"{record.id}/{k}", image=record.image, conversations=turns, source=record.source)

    def text_rows(self) -> list[tuple[list[dict], bool]]:
        return [(self._exchange(self.rows[i][0], k, self.rows[i][1]), self.rows[i][1]) for i, k in self.index]

    def image_groups(self) -> list[list[int]]:
        """The exchanges of each record with an image, together (they share it: ``recipe.<stage>.pack``
        may pack them); an exchange without an image stays alone."""
        groups: list[list[int]] = []
        for n, (i, k) in enumerate(self.index):
            if n and self.index[n - 1][0] == i and self.rows[i][1]:
                groups[-1].append(n)
            else:
                groups.append([n])
        return groups


def seismic_choice(data: Any) -> str:
    """``data.seismic`` with ``auto`` decided: true on the scene world (``data.train=scene``), false on
    your own data.train (no synthetic data joins a real mix unless asked for)."""
    if data.seismic == "auto":
        return "true" if data.train == "scene" else "false"
    return data.seismic


def seismic_records(setting: str, seed: int, on_bad_row: str, sizes: Optional[Any] = None) -> Optional[LoadedData]:
    """The seismic conversations ``data.seismic`` names, or None for ``false``.
    ``sizes`` (a SeismicDataSizes) is for tests; runs build the default sizes."""
    from harness_plugins.data.loader import load_dataset_folder, load_training_data

    if setting == "false":
        return None
    if setting == "true":
        from harness_plugins.seismic.dataset import TRAIN_SPLIT, default_root, ensure_seismic_data

        folder = ensure_seismic_data(default_root(), seed=seed, sizes=sizes)
        loaded = load_dataset_folder(folder / TRAIN_SPLIT, on_bad_row)
        return LoadedData(records=ExchangeRecords(loaded), skipped=loaded.skipped, source=loaded.source)
    return load_training_data(setting, None, on_bad_row)


def with_seismic(finetune: LoadedData, cfg: Any, on_bad_row: str, sizes: Optional[Any] = None) -> tuple[LoadedData, str]:
    """(data.train's finetune records followed by data.seismic's, a description of what was added)."""
    seed, setting = int(cfg.data.scene_seed), seismic_choice(cfg.data)
    seismic = seismic_records(setting, seed, on_bad_row, sizes)
    if seismic is None:
        return finetune, ""
    name = f"seismic world (seed {seed})" if setting == "true" else Path(setting).name
    mixed = LoadedData(records=MixedRecords([finetune, seismic]), skipped=finetune.skipped + seismic.skipped,
                       source=f"{finetune.source} + {seismic.source}")
    return mixed, f"; {name}: {len(seismic)} seismic exchanges"
