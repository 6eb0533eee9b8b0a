"""Registries of plugin descriptors, one per plugin kind, with alias and ``dist:name`` lookup."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError, unknown_name


@dataclass(frozen=True)
class Entry:
    """A registered descriptor and where it came from."""

    spec: Any
    plugin: str
    dist: str


def normalize_dist(name: str) -> str:
    """Distribution names compare like pip compares them."""
    return name.lower().replace("_", "-").replace(".", "-")


class Registry:
    """Descriptors of one plugin kind, by name and alias.

    Two distributions may register the same name; looking it up is then an error naming both,
    unless the user picks one with ``dist:name``.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._by_name: dict[str, list[Entry]] = {}
        self._by_alias: dict[str, list[Entry]] = {}

    def add(self, entry: Entry) -> None:
        self._by_name.setdefault(entry.spec.name, []).append(entry)
        for alias in getattr(entry.spec, "aliases", ()):
            self._by_alias.setdefault(alias, []).append(entry)

    def entries(self) -> list[Entry]:
        """Every registered entry, sorted by name."""
        return sorted((e for es in self._by_name.values() for e in es), key=lambda e: (e.spec.name, e.dist))

    def names(self) -> list[str]:
        return sorted(set(self._by_name) | set(self._by_alias))

    def __contains__(self, name: str) -> bool:
        try:
            self.entry(name)
        except HarnessError:
            return False
        return True

    def get(self, name: str) -> Any:
        """The descriptor registered under ``name`` (a name, an alias or ``dist:name``)."""
        return self.entry(name).spec

    def entry(self, name: str) -> Entry:
        dist, sep, bare = name.rpartition(":")
        candidates = self._by_name.get(bare) or self._by_alias.get(bare) or []
        if sep:
            candidates = [e for e in candidates if normalize_dist(e.dist) == normalize_dist(dist)]
        if not candidates:
            raise unknown_name(self._singular(), name, self.names())
        if len(candidates) > 1:
            dists = " and ".join(sorted(e.dist for e in candidates))
            raise HarnessError(
                f"{self._singular()} {bare!r} is registered by both {dists}",
                "pick one as " + " or ".join(f"'{e.dist}:{bare}'" for e in candidates),
            )
        return candidates[0]

    def _singular(self) -> str:
        return {"backbones": "backbone", "recipes": "recipe", "tasks": "task", "analyses": "analysis",
                "vision": "vision encoder", "attention": "attention backend"}.get(self.kind, self.kind)
