"""Lazy "module:attr" references, so registries stay light and heavy imports wait until used."""
from __future__ import annotations

import importlib
from typing import Any

from harness.errors import HarnessError


def load_ref(ref: str) -> Any:
    """Import ``module:attr`` (attr may be dotted) and return the attribute."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise HarnessError(f"bad reference {ref!r}", "write it as 'package.module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise HarnessError(f"{module_name!r} has no attribute {attr!r} (from reference {ref!r})") from None
    return obj
