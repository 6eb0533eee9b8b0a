"""Resolve a run's configuration in layers, remembering where each value came from.

Layers, later wins: schema defaults <- backbone model card <- task <- recipe profile <- command
line. Keys are strict (a typo is an error with a suggestion) and values are typed by the schema.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Iterator

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.config.overrides import Override
from harness.config.schema import SHORTHANDS, TRAINING_SECTIONS, UNHASHED, RunConfig, scene_questions_choice, schema_for
from harness.errors import HarnessError, did_you_mean
from harness.model_cards import CUSTOM_VARIANT, load_card
from harness.model_folders import custom_without_path
from harness.plugin_manager import PluginSet

LAYERS = ("default", "model card", "task", "recipe", "command line")
NULLS = {"null", "none", "~"}


@dataclass
class ResolvedConfig:
    """A validated run configuration, the source of each value, and its hashes."""

    config: Any  # an instance of the (recipe-specialised) RunConfig dataclass
    sources: dict[str, str]
    hashes: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return to_plain(self.config)

    def flat(self) -> dict[str, Any]:
        return flatten(self.as_dict())


def to_plain(obj: Any) -> Any:
    """Dataclasses and enums to plain JSON-able values."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Enum):
        return obj.value
    return obj


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def config_hashes(tree: dict[str, Any]) -> dict[str, str]:
    """Hashes of the whole run, the training part and the controlled part (all but the backbone)."""
    hashed = {k: v for k, v in tree.items() if k not in UNHASHED}
    return {
        "run": digest(hashed),
        "training": digest({k: hashed[k] for k in TRAINING_SECTIONS}),
        "controlled": digest({k: v for k, v in hashed.items() if k != "backbone"}),
    }


def _leaf_keys(node: DictConfig, prefix: str = "") -> dict[str, bool]:
    """Every dotted key of the schema -> whether it is a section (True) or a leaf (False)."""
    keys: dict[str, bool] = {}
    for key in node.keys():
        dotted = f"{prefix}{key}"
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            keys[dotted] = True
            keys.update(_leaf_keys(child, dotted + "."))
        else:
            keys[dotted] = False
    return keys


class _Layers:
    """The OmegaConf tree being built and the provenance of each leaf."""

    def __init__(self, schema: type):
        self.tree = OmegaConf.structured(schema)
        self.keys = _leaf_keys(self.tree)
        self.sources = {k: "default" for k, is_section in self.keys.items() if not is_section}

    def set(self, key: str, value: Any, layer: str) -> None:
        if key not in self.keys:
            raise HarnessError(
                f"unknown config key {key!r}{did_you_mean(key, [k for k, s in self.keys.items() if not s] + list(SHORTHANDS))}",
                "run `harness config` to see every key",
            )
        if self.keys[key]:
            children = sorted(k for k, s in self.keys.items() if k.startswith(key + ".") and not s)
            raise HarnessError(f"{key!r} is a section, not a value", f"set one of its keys: {', '.join(children[:6])}")
        node = OmegaConf.select(self.tree, key, throw_on_missing=False)
        if isinstance(value, str):
            if value.lower() in NULLS and value not in _choices(self.tree, key):  # launcher=none is a launcher
                value = None
            elif isinstance(node, ListConfig):  # a,b or [a,b]; [] or nothing: the empty list
                inner = value.strip()
                inner = inner[1:-1] if inner.startswith("[") and inner.endswith("]") else inner
                value = [v.strip() for v in inner.split(",") if v.strip()]
        try:
            OmegaConf.update(self.tree, key, value, merge=False)
        except OmegaConfBaseException:
            expected = _expected_type(self.tree, key)
            raise HarnessError(
                f"bad value for {key} ({layer}): {value!r} is not {expected}",
                "fix the value's type",
            ) from None
        self.sources[key] = layer


def _ref_type(tree: DictConfig, key: str) -> Any:
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(tree, parent_key) if parent_key else tree
    node = parent._get_node(leaf)
    return getattr(node, "_metadata", None) and node._metadata.ref_type


def _choices(tree: DictConfig, key: str) -> Any:
    """The member names of an Enum-typed key (empty for other keys)."""
    return getattr(_ref_type(tree, key), "__members__", None) or {}


def _expected_type(tree: DictConfig, key: str) -> str:
    type_ = _ref_type(tree, key)
    name = getattr(type_, "__name__", str(type_)).replace("Optional[", "").rstrip("]")
    choices = getattr(type_, "__members__", None)
    if choices:
        return "one of " + ", ".join(choices)
    article = "an" if name[:1] in "aeiou" else "a"
    return f"{article} {name}"


def resolve(overrides: list[Override], plugins: PluginSet) -> ResolvedConfig:
    """Resolve overrides against the registered plugins, the schema and the model cards."""
    given = {ov.key: ov.value for ov in overrides}
    defaults = RunConfig()
    backbone_entry = plugins.registry("backbones").entry(given.get("backbone.name", defaults.backbone.name))
    vision_entry = plugins.registry("vision").entry(given.get("vision.name", defaults.vision.name))
    task_entry = plugins.registry("tasks").entry(given.get("task.name", defaults.task.name))
    recipe_entry = plugins.registry("recipes").entry(given.get("recipe.name", defaults.recipe.name))
    bspec, vspec, tspec, rspec = backbone_entry.spec, vision_entry.spec, task_entry.spec, recipe_entry.spec

    layers = _Layers(schema_for(rspec.settings))
    # Names are stored canonically (aliases resolved); a `dist:name` pick is kept as written.
    names = {
        "backbone.name": (given.get("backbone.name", ""), bspec.name),
        "vision.name": (given.get("vision.name", ""), vspec.name),
        "task.name": (given.get("task.name", ""), tspec.name),
        "recipe.name": (given.get("recipe.name", ""), rspec.name),
    }
    for key, (typed, canonical) in names.items():
        value = typed if ":" in typed else canonical
        layers.set(key, value, "command line" if typed else "default")

    bcard, vcard = load_card(bspec.model_card), load_card(vspec.model_card)
    for kind, spec, card in (("backbone", bspec, bcard), ("vision", vspec, vcard)):
        if given.get(f"{kind}.path") and not given.get(f"{kind}.variant"):
            # Weights named by path are not the card's default (the organism): label them custom,
            # which also keeps the organism training profile away from real checkpoints.
            layers.set(f"{kind}.variant", CUSTOM_VARIANT, f"{kind}.path")
        else:
            layers.set(f"{kind}.variant", spec.default_variant or card.default_variant, "model card")
    for key, value in bcard.defaults.items():
        layers.set(key, value, "model card")
    for key, value in tspec.defaults.items():
        layers.set(key, value, "task")

    variant = bcard.variant(given.get("backbone.variant") or layers.tree.backbone.variant)
    profile = given.get("recipe.profile", "auto")
    if profile == "auto":
        wanted = "organism" if variant.organism else "full"
        profile = wanted if wanted in rspec.profiles else None
    elif profile not in rspec.profiles:
        raise HarnessError(
            f"recipe {rspec.name!r} has no profile {profile!r}{did_you_mean(profile, rspec.profiles)}",
            f"known profiles: {', '.join(rspec.profiles) or 'none'}",
        )
    if profile:
        layers.set("recipe.profile", profile, "recipe")
        for key, value in rspec.profiles[profile].items():
            layers.set(f"recipe.{key}", value, "recipe")

    for ov in overrides:
        if ov.key in names or (ov.key == "recipe.profile" and ov.value == "auto"):
            continue
        layers.set(ov.key, ov.value, "command line")

    try:
        config = OmegaConf.to_object(layers.tree)
    except OmegaConfBaseException as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, HarnessError):
            raise cause from None
        raise HarnessError(f"invalid configuration: {str(exc).splitlines()[0]}") from None
    config.data.scene_questions = scene_questions_choice(config.data)  # unset: decided by data.train, before hashing
    bcard.variant(config.backbone.variant)  # unknown variants fail here, with the known ones
    for kind, listing, section in (("backbone", "backbones", config.backbone), ("vision", "vision", config.vision)):
        if section.variant == CUSTOM_VARIANT and not section.path:
            raise custom_without_path(f"{kind}.path", listing)
    vcard.variant(config.vision.variant)
    if config.attention != "auto":
        plugins.registry("attention").entry(config.attention)
    for extra_task in config.eval.tasks:
        plugins.registry("tasks").entry(extra_task)
    resolved = ResolvedConfig(config, layers.sources, {})
    tree = resolved.as_dict()
    for key, contents in hashed_file_contents(config).items():  # an edited file is a different config
        node, leaf = _parent(tree, key)
        node[leaf] = {"path": node[leaf], "sha256": contents}
    for key, identity in hashed_checkpoints(config).items():  # a retrained checkpoint is a different start
        node, leaf = _parent(tree, key)
        node[leaf] = {"path": node[leaf], "checkpoint": identity}
    for key in keys_at_unhashed_default(config):  # a setting added at its old behaviour keeps every hash
        node, leaf = _parent(tree, key)
        del node[leaf]
    resolved.hashes = config_hashes(tree)
    return resolved


def _parent(tree: dict[str, Any], key: str) -> tuple[dict[str, Any], str]:
    """(the dict holding dotted ``key`` in ``tree``, its last part)."""
    *parents, leaf = key.split(".")
    for part in parents:
        tree = tree[part]
    return tree, leaf


def _leaf_fields(config: Any, prefix: str = "") -> Iterator[tuple[str, Any, dataclasses.Field]]:
    """(dotted key, value, dataclass field) of every setting under ``config``, nested sections walked."""
    for f in dataclasses.fields(config):
        value, key = getattr(config, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            yield from _leaf_fields(value, key + ".")
        else:
            yield key, value, f


def keys_at_unhashed_default(config: Any) -> list[str]:
    """Dotted keys of the fields declared with ``field(metadata={"hash": "unless_default"})`` (or
    ``"checkpoint"``) whose value is their default: left out of every hash, so that adding such a setting
    (its default the behaviour before it existed) leaves the hashes of existing runs and checkpoints as
    they were."""
    return [key for key, value, f in _leaf_fields(config)
            if f.metadata.get("hash") in ("unless_default", "checkpoint") and value == _default(f)]


def _default(f: dataclasses.Field) -> Any:
    """A dataclass field's default value, made by its factory when it has one."""
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def hashed_file_contents(config: Any) -> dict[str, str]:
    """dotted key -> digest of the file it names, for every set field declared with
    ``field(metadata={"hash": "contents"})`` (a user DeepSpeed JSON: its contents shape the training)."""
    found: dict[str, str] = {}
    for key, value, f in _leaf_fields(config):
        if f.metadata.get("hash") == "contents" and value:
            path = Path(str(value)).expanduser()
            try:
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            except OSError as exc:
                raise HarnessError(f"{key}={value} cannot be read ({exc.strerror or exc})",
                                   f"point {key} at an existing file") from None
    return found


def hashed_checkpoints(config: Any) -> dict[str, str]:
    """dotted key -> content identity of the LLaVA checkpoint it names, for every set field declared with
    ``field(metadata={"hash": "checkpoint"})`` (``recipe.init_from``: the weights a training starts from).
    The identity is the evaluator's (weights and processor files, memoised by size and mtime in the home's
    eval cache), so a checkpoint retrained in the same folder makes a new training hash."""
    from harness.evaluation.checkpoint import checkpoint_identity, checkpoint_named_by
    from harness.paths import home

    return {key: checkpoint_identity(checkpoint_named_by(key, value), memo_dir=home() / "eval_cache")[:16]
            for key, value, f in _leaf_fields(config) if f.metadata.get("hash") == "checkpoint" and value}
