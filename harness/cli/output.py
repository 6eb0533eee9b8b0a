"""Console output helpers: rich for people, plain JSON for scripts."""
from __future__ import annotations

import functools
import json
import sys
from typing import Any


@functools.lru_cache(maxsize=2)
def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def warn(message: str) -> None:
    """One warning line on stderr (never wrapped)."""
    sys.stderr.write(f"warning: {message}\n")
