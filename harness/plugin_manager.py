"""Plugin discovery: entry points of the ``harness`` group, loaded one by one so a broken plugin
is reported (name, distribution, first line of the error) instead of taking the harness down.

``HARNESS_LOAD_PLUGINS=a,b`` restricts loading to those distributions besides the built-ins
(empty: built-ins only). ``HARNESS_TRACE_HOOKS=1`` traces every hook call to stderr.
"""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from harness import hookspecs
from harness.registry import Entry, Registry, normalize_dist
from harness.specs import KINDS

ENTRY_POINT_GROUP = "harness"
BUILTIN_DIST = "harness"


@dataclass
class PluginInfo:
    """A loaded plugin: entry-point name, distribution, version and the hooks it implements."""

    name: str
    dist: str
    version: str
    hooks: list[str] = field(default_factory=list)

    @property
    def builtin(self) -> bool:
        return normalize_dist(self.dist) == BUILTIN_DIST


@dataclass
class LoadError:
    """A plugin that failed to import, validate or register."""

    name: str
    dist: str
    version: str
    stage: str  # "import", "validate" or "register"
    error: str

    def one_line(self) -> str:
        return f"plugin {self.name!r} from {self.dist} {self.version} failed to {self.stage}: {self.error}"


@dataclass
class PluginSet:
    """Everything the loaded plugins provided."""

    manager: pluggy.PluginManager
    plugins: list[PluginInfo]
    errors: list[LoadError]
    registries: dict[str, Registry]

    def registry(self, kind: str) -> Registry:
        return self.registries[kind]

    def dist_of(self, plugin_name: str) -> PluginInfo | None:
        return next((p for p in self.plugins if p.name == plugin_name), None)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def allowed_dists() -> set[str] | None:
    """Distributions named by HARNESS_LOAD_PLUGINS; None when it is unset (load everything)."""
    raw = os.environ.get("HARNESS_LOAD_PLUGINS")
    if raw is None:
        return None
    return {normalize_dist(d) for d in raw.split(",") if d.strip()}


def _hooks_of(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))


def load_plugins(extra: Iterable[tuple[str, object]] = (), entry_points: bool = True) -> PluginSet:
    """Load plugins from entry points (and ``extra`` (name, object) pairs) into fresh registries."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    if os.environ.get("HARNESS_TRACE_HOOKS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    plugins: list[PluginInfo] = []
    errors: list[LoadError] = []
    allowed = allowed_dists()

    candidates: list[tuple[str, str, str, Any]] = []
    if entry_points:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else "unknown"
            version = ep.dist.version if ep.dist else "?"
            if allowed is not None and normalize_dist(dist) != BUILTIN_DIST and normalize_dist(dist) not in allowed:
                continue
            candidates.append((ep.name, dist, version, ep))
    candidates += [(name, "<local>", "-", obj) for name, obj in extra]

    for name, dist, version, source in candidates:
        try:
            obj = source.load() if isinstance(source, metadata.EntryPoint) else source
        except Exception as exc:  # a broken plugin must not take the harness down
            errors.append(LoadError(name, dist, version, "import", first_line(exc)))
            continue
        if pm.get_plugin(name) is not None:
            name = f"{dist}:{name}"
        try:
            pm.register(obj, name=name)
            pm.check_pending()  # a misspelt hook implementation is an error, not a silent no-op
        except Exception as exc:
            if pm.is_registered(obj):
                pm.unregister(obj)
            errors.append(LoadError(name, dist, version, "validate", first_line(exc)))
            continue
        plugins.append(PluginInfo(name, dist, version, _hooks_of(pm, obj)))

    registries = {kind: Registry(kind) for kind in KINDS}
    info_by_name = {p.name: p for p in plugins}
    for kind, (spec_cls, hook_name) in KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            info = info_by_name[impl.plugin_name]
            collected: list[Entry] = []

            def register(spec: Any, _collected=collected, _info=info, _cls=spec_cls) -> None:
                if not isinstance(spec, _cls):
                    raise TypeError(f"{hook_name} expects {_cls.__name__}, got {type(spec).__name__}")
                _collected.append(Entry(spec, _info.name, _info.dist))

            try:
                # Through pluggy (HARNESS_TRACE_HOOKS traces it), one plugin at a time (each registration
                # is attributed to its plugin, and one plugin's failure does not stop the others).
                others = [p for p in pm.get_plugins() if p is not impl.plugin]
                pm.subset_hook_caller(hook_name, remove_plugins=others)(register=register)
            except Exception as exc:
                errors.append(LoadError(info.name, info.dist, info.version, "register", first_line(exc)))
                continue
            for entry in collected:
                registries[kind].add(entry)
    return PluginSet(pm, plugins, errors, registries)


@functools.lru_cache(maxsize=1)
def get_plugins() -> PluginSet:
    """The process-wide plugin set, loaded on first use."""
    return load_plugins()


def reset_plugins() -> None:
    """Forget the loaded plugins (tests, or after ``harness install``)."""
    get_plugins.cache_clear()
