"""Find and check the LLaVA checkpoint behind ``run=<dir>`` and give it a content identity.

``run`` may be an exported checkpoint folder (config.json of a LLaVA model, safetensors weights,
the processor) or a harness run directory (config.yaml), whose checkpoint is found through its
training hash. The identity (a hash of the weights and of the processor/config files) keys the
per-sample response cache, so a retrained checkpoint in the same folder never reuses answers.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from harness.errors import HarnessError

LLAVA_ARCHITECTURES = {"LlavaForConditionalGeneration"}
IDENTITY_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "processor_config.json",
                  "preprocessor_config.json", "chat_template.jinja", "chat_template.json", "generation_config.json")
HARNESS_FORMAT = 1  # the harness.json / run-directory format this evaluator reads


def resolve_checkpoint(run: str | Path) -> Path:
    """The checkpoint folder for a run directory or a checkpoint folder, checked to be a LLaVA one."""
    path = Path(run).expanduser()
    if not path.is_dir():
        raise HarnessError(f"run={run} is not a folder", "pass a harness run directory or an exported LLaVA checkpoint folder")
    if (path / "config.yaml").is_file() and not (path / "config.json").is_file():
        path = _checkpoint_of_run_dir(path)
    check_llava_checkpoint(path)
    return path


def checkpoint_named_by(key: str, value: str | Path) -> Path:
    """The checkpoint a setting ``key=value`` names (a run's model/ folder or a run directory), with
    every error one line that names the setting."""
    if not Path(value).expanduser().is_dir():
        raise HarnessError(f"{key}={value} is not a folder",
                           f"point {key} at an exported checkpoint (a run's model/ folder) or a harness run directory")
    try:
        return resolve_checkpoint(value)
    except HarnessError as exc:
        raise HarnessError(f"{key}={value}: {exc.message}", exc.hint) from None


def _checkpoint_of_run_dir(run_dir: Path) -> Path:
    from harness.runs import read_run_config  # checks the run format / harness version

    doc = read_run_config(run_dir)
    link = run_dir / "checkpoint"
    if link.is_dir():
        return link.resolve()
    training_hash = (doc.get("hashes") or {}).get("training")
    if training_hash:
        from harness.checkpoints import finished_checkpoint

        found = finished_checkpoint(training_hash)
        if found is not None:
            return found
    raise HarnessError(f"run directory {run_dir} has no finished checkpoint",
                       "run `harness run` for it again to train, or pass run=<exported checkpoint folder>")


def check_llava_checkpoint(path: Path) -> dict:
    """config.json of a LLaVA checkpoint; a one-line error naming what is missing otherwise."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise HarnessError(f"{path} is not a LLaVA checkpoint (no config.json)",
                           "pass the folder the training recipe exported (config.json, *.safetensors, processor files)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HarnessError(f"{config_file} is not valid JSON", "re-export the checkpoint") from None
    architectures = set(config.get("architectures") or [])
    if config.get("model_type") != "llava" or not architectures & LLAVA_ARCHITECTURES:
        raise HarnessError(
            f"{path} is not a LLaVA checkpoint (model_type={config.get('model_type')!r}, architectures={sorted(architectures)})",
            "pass a LlavaForConditionalGeneration checkpoint exported by the harness recipe",
        )
    if not weight_files(path):
        raise HarnessError(f"{path} has no *.safetensors weights", "re-export the checkpoint with safetensors")
    if not (path / "tokenizer_config.json").is_file():
        raise HarnessError(f"{path} has no processor/tokenizer files (tokenizer_config.json)",
                           "save the LlavaProcessor into the checkpoint folder (processor.save_pretrained)")
    _check_harness_json(path)
    return config


def _check_harness_json(path: Path) -> None:
    meta_file = path / "harness.json"
    if not meta_file.is_file():
        return  # a plain HF LLaVA checkpoint: evaluable, just not from a harness run
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HarnessError(f"{meta_file} is not valid JSON", "re-export the checkpoint") from None
    fmt = meta.get("format", HARNESS_FORMAT) if isinstance(meta, dict) else None
    if fmt != HARNESS_FORMAT:
        import harness

        raise HarnessError(
            f"{path} was exported by harness {meta.get('harness_version', '?') if isinstance(meta, dict) else '?'} "
            f"in format {fmt}, this harness {harness.__version__} reads format {HARNESS_FORMAT}",
            "evaluate it with the harness version that wrote it, or retrain with this one",
        )


def weight_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.safetensors"))


def checkpoint_identity(path: Path, memo_dir: Path | None = None) -> str:
    """sha256 over the weights and the config/processor files; memoised by (size, mtime) in ``memo_dir``."""
    files = weight_files(path) + [path / n for n in IDENTITY_FILES if (path / n).is_file()]
    stamp = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    memo = None
    if memo_dir is not None:
        memo = Path(memo_dir) / "identities" / (hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24] + ".json")
        if memo.is_file():
            try:
                saved = json.loads(memo.read_text())
                if saved.get("stamp") == [list(s) for s in stamp]:
                    return saved["identity"]
            except (json.JSONDecodeError, KeyError):
                pass
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    identity = digest.hexdigest()
    if memo is not None:
        from harness.runs import write_atomically

        memo.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(memo, json.dumps({"stamp": stamp, "identity": identity}))
    return identity
