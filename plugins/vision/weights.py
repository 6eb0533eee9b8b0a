"""Where a vision tower's weights come from: ``vision.path``, the packaged organism, or the local
Hugging Face cache (never the network). Every miss is a one-line error saying where it looked."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.model_cards import Variant


def packaged_folder(relative: str) -> Path:
    """A folder shipped inside the ``harness_plugins`` package (e.g. ``organisms/clip``)."""
    return Path(str(resources.files("harness_plugins").joinpath(relative)))


def hf_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def looks_like_repo_id(text: str) -> bool:
    """``owner/name`` with nothing path-like about it."""
    return text.count("/") == 1 and not text.startswith((".", "/", "~")) and all(text.split("/"))


def from_hf_cache(repo: str, what: str) -> Path:
    """The cached snapshot of ``repo`` (local files only); one-line error when it is not cached."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # huggingface_hub raises several types for "not cached"; all mean the same here
        raise HarnessError(
            f"{what} needs the weights of {repo}, not found in the Hugging Face cache {hf_cache_dir()}",
            f"download them (huggingface-cli download {repo}) on a machine with network, "
            "or set vision.path=/folder/with/config.json",
        ) from None


def check_model_dir(folder: Path, key: str) -> Path:
    """``folder`` must be a model folder written by ``save_pretrained`` (it has config.json)."""
    if not folder.exists():
        raise HarnessError(f"{key} {folder} does not exist", f"point {key} at a model folder with config.json")
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise HarnessError(
            f"{key} {folder} is not a model directory (no config.json)",
            f"point {key} at a folder written by save_pretrained, e.g. a local copy of openai/clip-vit-large-patch14-336",
        )
    return folder


def read_config(folder: Path) -> dict[str, Any]:
    """config.json of a model folder; one-line error when it is not valid JSON."""
    path = folder / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"cannot read {path}: {exc}", "restore the model folder or point at another one") from None


def resolve_weights(family: str, variant: Variant, path: str | Path | None, key: str = "vision.path") -> Path:
    """The folder to load for ``variant`` of ``family``, ``path`` taking precedence."""
    if path is not None and str(path) != "":
        text = str(path)
        folder = Path(text).expanduser()
        if not folder.exists() and looks_like_repo_id(text):
            return check_model_dir(from_hf_cache(text, f"{key}={text}"), key)
        return check_model_dir(folder, key)
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
    return check_model_dir(from_hf_cache(variant.hf_repo, f"{family} variant {variant.name!r}"), key)
