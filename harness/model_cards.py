"""Model cards: YAML facts about a backbone generation or vision encoder, validated on load.

A card names the architecture facts of the real models, the chat format, licence/access notes and
the variants (the ``tiny`` organism and the real sizes with their Hugging Face repository ids).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError, did_you_mean

CARD_SCHEMA_VERSION = 1
KINDS = ("backbone", "vision")
REQUIRED_FACTS = {
    "backbone": (
        "tokenizer", "vocab_size", "hidden_size", "num_layers", "num_heads", "num_kv_heads",
        "ffn_size", "rope_theta", "context", "rms_norm_eps", "bos_id", "eos_id",
        "pretraining_tokens",
    ),
    "vision": ("image_size", "patch_size", "hidden_size", "num_layers", "feature_layer"),
}
CARD_KEYS = {
    "schema", "name", "kind", "family", "generation", "description", "license", "access",
    "facts", "chat_format", "default_variant", "variants", "defaults",
}
VARIANT_KEYS = {"organism", "hf_repo", "weights", "params", "description", "architecture", "build"}


CUSTOM_VARIANT = "custom"


@dataclass(frozen=True)
class Variant:
    """One size of a model: the organism (weights shipped in the package) or a real checkpoint."""

    name: str
    organism: bool = False
    hf_repo: str | None = None
    weights: str | None = None  # packaged folder, relative to the harness_plugins package
    params: float | None = None
    description: str = ""
    architecture: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelCard:
    """A validated model card."""

    name: str
    kind: str
    family: str
    facts: dict[str, Any]
    variants: dict[str, Variant]
    default_variant: str
    source: str
    generation: int | None = None
    description: str = ""
    license: str = ""
    access: str = ""
    chat_format: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)

    def variant(self, name: str | None) -> Variant:
        """The named variant, or the default one; a one-line error for an unknown name.

        ``custom`` is every card's variant for weights named by ``backbone.path``/``vision.path``.
        """
        name = name or self.default_variant
        if name == CUSTOM_VARIANT:
            return Variant(name=CUSTOM_VARIANT, description="weights from backbone.path / vision.path")
        if name not in self.variants:
            raise HarnessError(
                f"{self.name} has no variant {name!r}{did_you_mean(name, self.variants)}",
                f"known variants: {', '.join(self.variants)}",
            )
        return self.variants[name]


def card_path(ref: str) -> Path:
    """The file behind a card reference: a packaged card name or a path to a YAML file."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        return Path(ref).expanduser()
    return Path(str(resources.files("harness_model_cards").joinpath(f"{ref}.yaml")))


@functools.lru_cache(maxsize=None)
def load_card(ref: str) -> ModelCard:
    """Load and validate a model card by name or path."""
    path = card_path(ref)
    if not path.is_file():
        raise HarnessError(f"model card {ref!r} not found at {path}", "check the plugin's model_card setting")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise HarnessError(f"malformed YAML in model card {path}{where}: {problem}", "fix the file") from None
    return parse_card(raw, source=str(path))


def parse_card(raw: Any, source: str) -> ModelCard:
    """Validate a card's parsed YAML against the card schema."""

    def bad(msg: str) -> HarnessError:
        return HarnessError(f"invalid model card {source}: {msg}", "see model_cards/README.md for the schema")

    if not isinstance(raw, dict):
        raise bad("top level must be a mapping")
    unknown = set(raw) - CARD_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise bad(f"unknown key {key!r}{did_you_mean(key, CARD_KEYS)}")
    if raw.get("schema") != CARD_SCHEMA_VERSION:
        raise bad(f"schema must be {CARD_SCHEMA_VERSION}, got {raw.get('schema')!r}")
    for key in ("name", "kind", "family"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise bad(f"{key!r} must be a non-empty string")
    kind = raw["kind"]
    if kind not in KINDS:
        raise bad(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    facts = raw.get("facts")
    if not isinstance(facts, dict):
        raise bad("'facts' must be a mapping")
    missing = [k for k in REQUIRED_FACTS[kind] if k not in facts]
    if missing:
        raise bad(f"facts lack {', '.join(missing)}")
    if kind == "backbone" and not isinstance(raw.get("chat_format"), str):
        raise bad("a backbone card needs 'chat_format'")
    variants_raw = raw.get("variants")
    if not isinstance(variants_raw, dict) or not variants_raw:
        raise bad("'variants' must be a non-empty mapping")
    variants = {}
    for vname, vraw in variants_raw.items():
        vraw = vraw or {}
        if not isinstance(vraw, dict):
            raise bad(f"variant {vname!r} must be a mapping")
        if vname == CUSTOM_VARIANT:
            raise bad(f"variant name {CUSTOM_VARIANT!r} is reserved (weights from backbone.path / vision.path)")
        vunknown = set(vraw) - VARIANT_KEYS
        if vunknown:
            key = sorted(vunknown)[0]
            raise bad(f"variant {vname!r}: unknown key {key!r}{did_you_mean(key, VARIANT_KEYS)}")
        if not vraw.get("organism") and not vraw.get("hf_repo"):
            raise bad(f"variant {vname!r} needs 'hf_repo' (or organism: true)")
        variants[str(vname)] = Variant(name=str(vname), **vraw)
    default_variant = raw.get("default_variant", "tiny")
    if default_variant not in variants:
        raise bad(f"default_variant {default_variant!r} is not among the variants")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise bad("'defaults' must be a mapping of dotted config keys")
    return ModelCard(
        name=raw["name"], kind=kind, family=raw["family"], facts=dict(facts), variants=variants,
        default_variant=default_variant, source=source, generation=raw.get("generation"),
        description=raw.get("description", ""), license=raw.get("license", ""),
        access=raw.get("access", ""), chat_format=raw.get("chat_format"), defaults=dict(defaults),
    )
