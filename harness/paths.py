"""Where runs, data and the results store live: HARNESS_HOME (or --home), default ./harness_runs."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.errors import HarnessError

DEFAULT_HOME = "harness_runs"


def home() -> Path:
    """The harness home folder (not created)."""
    return Path(os.environ.get("HARNESS_HOME") or DEFAULT_HOME).expanduser().absolute()


def ensure_writable_home() -> Path:
    """Create the home folder if needed and check it is writable; one-line error otherwise."""
    path = home()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise HarnessError(
            f"HARNESS_HOME {path} is not writable ({exc.strerror or exc})",
            "set HARNESS_HOME or --home to a folder you can write",
        ) from None
    return path


def runs_dir() -> Path:
    return home() / "runs"


def data_dir() -> Path:
    return home() / "data"


def store_path() -> Path:
    return home() / "results.sqlite"
