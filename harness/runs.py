"""Run directories: created atomically, holding the resolved ``config.yaml`` and its hashes."""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

import harness
from harness.config import ResolvedConfig
from harness.errors import HarnessError
from harness.paths import runs_dir

LOCK = ".lock"  # the lease of the process making the run (harness.locks), released once the run is stored
_HELD: dict[Path, Any] = {}  # run folder -> the lease this process holds on it

RUN_FORMAT = 1  # bumped when the layout of a run directory changes


def config_document(resolved: ResolvedConfig) -> dict[str, Any]:
    """What config.yaml holds: the config, the source of each value and the hashes."""
    return {
        "format": RUN_FORMAT,
        "harness_version": harness.__version__,
        "hashes": resolved.hashes,
        "config": resolved.as_dict(),
        "sources": resolved.sources,
    }


def write_atomically(path: Path, text: str) -> None:
    """Write a file so that readers see the old content or the new, never half of it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_dir(tmp: Path, final: Path, shareable: bool = False) -> None:
    """Move the finished folder ``tmp`` to ``final``; an existing ``final`` is removed only once the
    new one is in place. ``shareable`` opens up the permissions mkdtemp made private (for folders
    that ship in the package)."""
    if shareable:
        tmp.chmod(0o755)
        for file in tmp.iterdir():
            file.chmod(0o644)
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)


def create_run_dir(resolved: ResolvedConfig) -> Path:
    """A new run directory named after time, task, backbone and run hash, with config.yaml in it."""
    cfg = resolved.config
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{cfg.task.name}-{cfg.backbone.name.replace(':', '_')}-{resolved.hashes['run'][:8]}-{secrets.token_hex(2)}"
    parent = runs_dir()
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=".staging-"))
    try:
        (staging / "config.yaml").write_text(yaml.safe_dump(config_document(resolved), sort_keys=False), encoding="utf-8")
        final = parent / name
        os.rename(staging, final)
    except BaseException:
        for child in staging.glob("*"):
            child.unlink()
        staging.rmdir()
        raise
    _HELD[final] = _own(final / LOCK)
    return final


def _own(lock_file: Path) -> Any:
    """Take the lease on a new run folder (nobody else can hold it yet); it is renewed until released."""
    from harness.locks import lease

    claim = lease(lock_file)
    claim.acquire(timeout=10)
    return claim


def release_run_dir(run_dir: Path) -> None:
    """The run is stored: its folder no longer belongs to the process that made it."""
    lease = _HELD.pop(Path(run_dir), None)
    if lease is not None:
        lease.release()


def discard_run_dir(run_dir: Path) -> None:
    """The run failed: release its folder, then remove it (in that order, or the lease's heartbeat would
    see its marker vanish and take it for a takeover)."""
    release_run_dir(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)


def orphaned_run_dirs(stored: Callable[[str], bool]) -> list[Path]:
    """Run folders whose process died (SIGKILL, power loss) before it could clean up: their lease is not
    held by a live process (its pid is gone on this host, or another host stopped renewing it) and they
    are not in the store (``stored(run_id)`` says whether one is)."""
    from harness.locks import is_held

    parent, found = runs_dir(), []
    for lock in sorted(parent.glob(f"*/{LOCK}")) if parent.is_dir() else []:
        if Path(lock.parent) in _HELD or stored(lock.parent.name):
            continue
        if not is_held(lock):
            found.append(lock.parent)
    return found


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """config.yaml of a run directory, checked for the run format this harness writes."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise HarnessError(f"{run_dir} is not a harness run directory (no config.yaml)", "pass a folder under HARNESS_HOME/runs")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        raise HarnessError(f"{path} is not valid YAML", "the run directory is damaged; start a new run") from None
    if not isinstance(doc, dict) or doc.get("format") != RUN_FORMAT:
        found = doc.get("harness_version", "?") if isinstance(doc, dict) else "?"
        raise HarnessError(
            f"{run_dir} was written by harness {found} in run format {doc.get('format') if isinstance(doc, dict) else '?'}, "
            f"this harness {harness.__version__} reads format {RUN_FORMAT}",
            "rerun it with this version or use the harness version that wrote it",
        )
    return doc
