"""Images in, as LLaVA-1.5 feeds them: decoded with a one-line error naming a bad file; the image
processor (pad to a square with the mean colour, resize, centre-crop, normalize) is the core's
:mod:`harness.kinds.images`, named here too for the plugins that use it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.kinds.images import CLIP_MEAN, CLIP_STD, image_processor, processor_from_folder

__all__ = ["CLIP_MEAN", "CLIP_STD", "image_processor", "load_image", "processor_from_folder"]


def load_image(path: str | Path) -> Any:
    """Decode ``path`` to an RGB ``PIL.Image``; one-line error naming the file if it cannot be read."""
    from harness_plugins.data.records import decode_whole

    path = Path(path)
    try:
        return decode_whole(path)
    except FileNotFoundError:
        raise HarnessError(f"image {path} does not exist", "check data.image_root and the row's image field") from None
    except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        raise HarnessError(f"image {path} cannot be decoded ({type(exc).__name__})",
                           "replace or remove the file (or set data.on_bad_row=skip)") from None
