"""``attention=auto|eager|sdpa|xformers``: pick among the registered attention-backend plugins, register
the choice with transformers, and say why (recorded with each training and evaluation)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from harness.errors import HarnessError, unknown_name
from harness.lazy import load_ref
from harness.specs import AttentionSpec


class AttentionChoice(NamedTuple):
    """The ``attn_implementation`` to pass to transformers, and why it was chosen (recorded per run)."""

    name: str
    reason: str


def registered_specs() -> list[AttentionSpec]:
    """Attention backends of every loaded plugin."""
    from harness.plugin_manager import get_plugins

    return [entry.spec for entry in get_plugins().registry("attention").entries()]


def is_available(spec: AttentionSpec, device: Any) -> tuple[bool, str]:
    if spec.availability is None:
        return True, "no availability check declared"
    return load_ref(spec.availability)(device)


def choose_attention(requested: str, device: Any = "cpu",
                     specs: Sequence[AttentionSpec] | None = None) -> AttentionChoice:
    """Resolve ``requested`` (a backend name, alias or ``auto``) on ``device`` and register it.

    ``auto`` takes the highest-priority backend whose availability check passes (xformers where its
    kernels really run, else SDPA). A named backend that cannot run is an error, never a silent swap.
    """
    specs = list(registered_specs() if specs is None else specs)
    if requested == "auto":
        skipped = []
        for spec in sorted(specs, key=lambda s: -s.priority):
            ok, why = is_available(spec, device)
            if ok:
                name = load_ref(spec.implementation)()
                note = f" (skipped {'; '.join(skipped)})" if skipped else ""
                return AttentionChoice(name, f"auto: {spec.name}: {why}{note}")
            skipped.append(f"{spec.name}: {why}")
        raise HarnessError(f"attention=auto found no backend that runs on {device}: {'; '.join(skipped)}",
                           "install a working backend or set attention=eager")
    matches = [s for s in specs if requested == s.name or requested in s.aliases]
    if not matches:
        raise unknown_name("attention backend", requested, [s.name for s in specs] + ["auto"])
    spec = matches[0]
    ok, why = is_available(spec, device)
    if not ok:
        raise HarnessError(f"attention={requested} cannot run on {device}: {why}",
                           "use attention=auto or attention=sdpa")
    return AttentionChoice(load_ref(spec.implementation)(), f"requested: {why}")
