"""``key=value`` command-line overrides and ``-m`` sweep expansion. Values stay strings here;
the typed schema converts them, so ``1.10`` stays ``"1.10"`` for a string key."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from harness.config.schema import SHORTHANDS
from harness.errors import HarnessError


@dataclass(frozen=True)
class Override:
    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


def parse_overrides(args: list[str]) -> list[Override]:
    """Parse ``key=value`` words; ``backbone=llama3`` is shorthand for ``backbone.name=llama3``."""
    parsed: dict[str, Override] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        key = key.strip()
        if not sep or not key:
            raise HarnessError(f"expected KEY=VALUE, got {arg!r}", "write e.g. backbone=llama3 or recipe.finetune.lr=1e-5")
        key = SHORTHANDS.get(key, key)
        parsed[key] = Override(key, value.strip())  # the last one wins, as on most CLIs
    return list(parsed.values())


def expand_multirun(overrides: list[Override], list_keys: set[str] = frozenset()) -> list[list[Override]]:
    """The cartesian product of comma-separated values (keys in ``list_keys`` take lists; not swept)."""
    axes = []
    for ov in overrides:
        if ov.key in list_keys or "," not in ov.value:
            axes.append([ov])
        else:
            values = [v.strip() for v in ov.value.split(",")]
            if any(not v for v in values):
                raise HarnessError(f"empty value in sweep {ov}", "write e.g. backbone=llama1,llama2,llama3")
            axes.append([Override(ov.key, v) for v in values])
    return [list(cell) for cell in itertools.product(*axes)]
