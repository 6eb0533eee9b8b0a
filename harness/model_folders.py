"""Model folders on disk: where a plugin's weights come from (``*.path``, a packaged organism, the
local Hugging Face cache; never the network), what makes a folder loadable, and ``from_pretrained``
failures turned into one line naming the folder. Shared by the backbone and vision plugins."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Callable, TypeVar

from harness.errors import HarnessError
from harness.model_cards import CUSTOM_VARIANT, Variant

WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin")
T = TypeVar("T")


def packaged_folder(relative: str) -> Path:
    """A folder shipped inside the ``harness_plugins`` package (e.g. ``organisms/clip``)."""
    return Path(str(resources.files("harness_plugins").joinpath(relative)))


def hf_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def looks_like_repo_id(text: str) -> bool:
    """``owner/name`` with nothing path-like about it."""
    return text.count("/") == 1 and not text.startswith((".", "/", "~")) and all(text.split("/"))


def cached_snapshot(repo: str) -> Path | None:
    """The local snapshot of ``repo`` in the Hugging Face cache, or None (nothing is downloaded)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # huggingface_hub raises several types for "not cached"; all mean the same here
        return None


def from_hf_cache(repo: str, what: str, key: str) -> Path:
    """The cached snapshot of ``repo``; one-line error when it is not cached."""
    folder = cached_snapshot(repo)
    if folder is None:
        raise HarnessError(
            f"{what} needs the weights of {repo}, not found in the Hugging Face cache {hf_cache_dir()}",
            f"download them (huggingface-cli download {repo}) on a machine with network, "
            f"or set {key}=/folder/with/config.json",
        )
    return folder


def check_model_dir(folder: Path, key: str) -> Path:
    """``folder`` must be a model folder written by ``save_pretrained``: config.json and weights."""
    fix = f"point {key} at a folder written by save_pretrained (config.json, weights, tokenizer or processor)"
    if not folder.exists():
        raise HarnessError(f"{key} {folder} does not exist", fix)
    if not folder.is_dir():
        raise HarnessError(f"{key} {folder} is not a directory", fix)
    if not (folder / "config.json").is_file():
        raise HarnessError(f"{key} {folder} is not a model directory (no config.json)", fix)
    if not any(next(folder.glob(pattern), None) for pattern in WEIGHT_FILES):
        raise HarnessError(f"{folder} has a config.json but no weights (*.safetensors or pytorch_model*.bin)",
                           f"copy the weight files there or {fix}")
    return folder


def user_folder(path: str | Path, key: str) -> Path:
    """The folder a user named with ``key=``: a local folder, or a repository id in the local cache."""
    text = str(path)
    folder = Path(text).expanduser()
    if not folder.exists() and looks_like_repo_id(text):
        folder = from_hf_cache(text, f"{key}={text}", key)
    return check_model_dir(folder, key)


def custom_without_path(key: str, listing: str) -> HarnessError:
    """The error for variant ``custom`` (weights named by ``key``, e.g. ``backbone.path``) with ``key`` unset."""
    kind = key.split(".")[0]
    return HarnessError(f"{kind}.variant={CUSTOM_VARIANT} means weights from {key}, and {key} is not set",
                        f"set {key}=/folder/with/config.json or pick a variant (harness list {listing})")


def variant_folder(family: str, variant: Variant, path: str | Path | None, key: str, listing: str,
                   access: str = "") -> Path:
    """Where a plugin loads ``variant`` of ``family`` from: ``key=`` (a folder or a cached repository id),
    else the packaged organism, else the variant's repository in the local Hugging Face cache. Each miss
    is one line saying where it looked and how to point at weights (``listing``: the `harness list` kind;
    ``access``: the model card's note on how to get the weights)."""
    if path is not None and str(path) != "":
        return user_folder(path, key)
    if variant.name == CUSTOM_VARIANT:
        raise custom_without_path(key, listing)
    if variant.organism:
        if not variant.weights:
            raise HarnessError(f"{family} variant {variant.name!r} is an organism without a 'weights' folder",
                               "fix the model card")
        folder = packaged_folder(variant.weights)
        if not (folder / "config.json").is_file():
            raise HarnessError(f"the {family} organism is not built (no {folder / 'config.json'})",
                               f"run `harness organisms build --only {family}`")
        return check_model_dir(folder, key)
    if not variant.hf_repo:
        raise HarnessError(f"{family} variant {variant.name!r} names no weights", f"set {key}=/folder/with/config.json")
    folder = cached_snapshot(variant.hf_repo)
    if folder is None:
        raise HarnessError(
            f"no weights for {family} variant {variant.name!r}: {variant.hf_repo} is not in the Hugging Face "
            f"cache {hf_cache_dir()} and {key} is not set",
            f"download it with `huggingface-cli download {variant.hf_repo}` ({access or 'see the model card'}) "
            f"or set {key}=/dir to a local copy",
        )
    return check_model_dir(folder, key)


def read_config(folder: Path, key: str) -> dict[str, Any]:
    """config.json of a model folder; one-line error when it is not a JSON object."""
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"cannot read {path} ({exc})", f"restore the folder or point {key} at another one") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path} is not a JSON object", f"restore the folder or point {key} at another one")
    return data


def load_pretrained(load: Callable[[], T], folder: Path, key: str) -> T:
    """Run a ``from_pretrained`` call; a truncated or unreadable weight file becomes one line naming
    the folder (safetensors and torch report it as several exception types, none naming the file)."""
    from safetensors import SafetensorError

    try:
        return load()
    except (OSError, SafetensorError, EOFError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, RuntimeError) and not _looks_like_a_file_problem(first):
            raise
        raise HarnessError(f"cannot load the weights in {folder} ({type(exc).__name__}: {first[:200]})",
                           f"the files look truncated or corrupt: copy them again or point {key} at another folder") from None


def _looks_like_a_file_problem(message: str) -> bool:
    """RuntimeErrors torch raises for a damaged checkpoint (not the ones a bug would raise)."""
    return any(s in message for s in ("PytorchStreamReader", "invalid header", "unexpected EOF", "zip archive"))
