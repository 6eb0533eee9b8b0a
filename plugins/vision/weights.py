"""Where a vision tower's weights come from: ``vision.path``, the packaged organism, or the local
Hugging Face cache (never the network). Every miss is a one-line error saying where it looked."""
from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.model_cards import CUSTOM_VARIANT, Variant
from harness.model_folders import check_model_dir, from_hf_cache, packaged_folder, user_folder


def resolve_weights(family: str, variant: Variant, path: str | Path | None, key: str = "vision.path") -> Path:
    """The folder to load for ``variant`` of ``family``, ``path`` taking precedence."""
    if path is not None and str(path) != "":
        return user_folder(path, key)
    if variant.name == CUSTOM_VARIANT:
        raise HarnessError(f"{family} variant {CUSTOM_VARIANT!r} means weights from {key}, and {key} is not set",
                           f"set {key}=/folder/with/config.json or pick a variant (harness list vision)")
    if variant.organism:
        if not variant.weights:
            raise HarnessError(f"{family} variant {variant.name!r} is an organism without a 'weights' folder",
                               "fix the model card")
        folder = packaged_folder(variant.weights)
        if not (folder / "config.json").is_file():
            raise HarnessError(f"the {family} {variant.name!r} organism is not built (looked in {folder})",
                               "run `harness organisms build`")
        return folder
    if not variant.hf_repo:
        raise HarnessError(f"{family} variant {variant.name!r} names no weights", f"set {key}=/folder/with/config.json")
    return check_model_dir(from_hf_cache(variant.hf_repo, f"{family} variant {variant.name!r}", key), key)
