"""LLaVA-1.5's image processor: transformers' own ``LlavaImageProcessor`` with ``do_pad=True``, the CLIP
preprocessing (same resize, crop, mean and std) plus LLaVA-1.5's ``expand2square`` (pad to a square with
the mean colour); it saves and loads with stock ``AutoProcessor``. (``CLIPImageProcessor`` has no
pad-to-square step.) Part of the core so that a third-party vision encoder reuses it.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's pixel statistics
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def image_processor(image_size: int, mean: Sequence[float] = CLIP_MEAN, std: Sequence[float] = CLIP_STD) -> Any:
    """A LLaVA-1.5 image processor for a tower that takes ``image_size`` pixels square."""
    from transformers import LlavaImageProcessor

    return LlavaImageProcessor(
        do_pad=True,  # expand2square with the mean colour, as LLaVA-1.5 does
        do_resize=True, size={"shortest_edge": image_size},
        do_center_crop=True, crop_size={"height": image_size, "width": image_size},
        do_rescale=True, do_normalize=True, image_mean=list(mean), image_std=list(std), do_convert_rgb=True,
    )


def processor_from_folder(folder: Path, image_size: int) -> Any:
    """The processor for a weights folder: its preprocessor_config.json statistics when it has one
    (a real CLIP checkpoint ships a CLIPImageProcessor config), padded to square either way."""
    import json

    cfg_path = folder / "preprocessor_config.json"
    mean, std = CLIP_MEAN, CLIP_STD
    if cfg_path.is_file():
        try:
            raw = json.loads(cfg_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise HarnessError(f"cannot read {cfg_path}: {exc}", "restore the file or delete it to use CLIP's statistics") from None
        mean, std = raw.get("image_mean", mean), raw.get("image_std", std)
        for name, values in (("image_mean", mean), ("image_std", std)):
            if not (isinstance(values, list) and len(values) == 3
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
                    and (name == "image_mean" or all(v > 0 for v in values))):
                raise HarnessError(f"{cfg_path}: {name} is {values!r}, not three numbers"
                                   + (" above 0" if name == "image_std" else ""),
                                   "restore the file or delete it to use CLIP's statistics")
    return image_processor(image_size, mean, std)
