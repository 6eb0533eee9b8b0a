"""Typed run configuration: schema, key=value overrides, layered resolution with provenance, hashes."""
from harness.config.resolve import ResolvedConfig, resolve
from harness.config.overrides import Override, expand_multirun, parse_overrides

__all__ = ["ResolvedConfig", "resolve", "Override", "expand_multirun", "parse_overrides"]
