"""Run the ``harness`` CLI in a fresh interpreter, as a user would (plugins from entry points)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], home: Path | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """``harness ARGS`` with its own HARNESS_HOME; returns the completed process (text output)."""
    full_env = {**os.environ, **(env or {})}
    if home is not None:
        full_env["HARNESS_HOME"] = str(home)
    # Not the repo root as cwd: `python -m` would then import harness/ from the source tree
    # instead of the installed package.
    return subprocess.run([sys.executable, "-m", "harness.cli.main", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or tempfile.gettempdir(), timeout=timeout)
