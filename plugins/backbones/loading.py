"""Find a backbone's weights (organism folder, ``backbone.path``, Hugging Face cache) and check that
their config.json matches the generation before ``from_pretrained`` loads them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.model_cards import ModelCard
from harness.model_folders import read_config, variant_folder

KEY = "backbone.path"


@dataclass(frozen=True)
class Expected:
    """Facts of a generation that a checkpoint's config.json must show.

    ``scales``: (context, vocab size) of the real models and of the organism; the context tells
    which scale a checkpoint is, and the vocabulary is checked at real scale only (an organism's
    vocabulary is whatever its tokenizer training gave). ``attention``: "mha", "gqa" or "any"
    (LLaMA-2 70B uses GQA, its smaller sizes do not).
    """

    generation: str
    rope_theta: float
    rms_norm_eps: float
    scales: tuple[tuple[int, int | None], ...]
    attention: str


def weights_dir(card: ModelCard, variant_name: str | None, path: str | Path | None) -> Path:
    """Where ``from_pretrained`` loads from; a one-line error naming where it looked and the fix."""
    return variant_folder(card.name, card.variant(variant_name), path, KEY, "backbones", card.access)


def config_facts(config: dict[str, Any]) -> dict[str, Any]:
    """The facts compared with :class:`Expected` (transformers 5 nests rope_theta in rope_parameters)."""
    rope = config.get("rope_theta")
    if rope is None:
        rope = (config.get("rope_parameters") or {}).get("rope_theta")
    heads = config.get("num_attention_heads")
    kv = config.get("num_key_value_heads") or heads
    return {"model_type": config.get("model_type"), "rope_theta": rope, "rms_norm_eps": config.get("rms_norm_eps"),
            "vocab_size": config.get("vocab_size"), "context": config.get("max_position_embeddings"),
            "attention": "gqa" if heads and kv and kv < heads else "mha"}


def mismatches(facts: dict[str, Any], expected: Expected) -> list[str]:
    """Human-readable differences between a config's facts and a generation's expectations."""
    from .tokenizer_policy import padded_vocab_size

    out = []
    if facts["model_type"] != "llama":
        out.append(f"model_type is {facts['model_type']!r}, not 'llama'")
    if facts["rope_theta"] is None or float(facts["rope_theta"]) != expected.rope_theta:
        out.append(f"rope_theta is {facts['rope_theta']}, {expected.generation} has {expected.rope_theta:g}")
    if facts["rms_norm_eps"] is None or float(facts["rms_norm_eps"]) != expected.rms_norm_eps:
        out.append(f"rms_norm_eps is {facts['rms_norm_eps']}, {expected.generation} has {expected.rms_norm_eps:g}")
    vocab = facts["vocab_size"] or 0
    scale = next((v for c, v in expected.scales if c == facts["context"]), -1)
    if scale == -1:
        out.append(f"max_position_embeddings is {facts['context']}, {expected.generation} has "
                   + " or ".join(str(c) for c, _ in expected.scales))
    # A harness checkpoint has the pad and image tokens added, padded to a multiple of 64.
    elif scale is not None and not scale <= vocab <= padded_vocab_size(scale + 2):
        out.append(f"vocab_size is {vocab}, {expected.generation} has {scale}")
    if expected.attention != "any" and facts["attention"] != expected.attention:
        out.append(f"attention is {facts['attention'].upper()}, {expected.generation} uses {expected.attention.upper()}")
    return out


def check_architecture(folder: Path, expected: Expected, others: dict[str, Expected]) -> None:
    """One-line error if ``folder/config.json`` does not describe ``expected``'s generation; names the
    generation the weights do match, if one of ``others`` does."""
    facts = config_facts(read_config(folder, KEY))
    problems = mismatches(facts, expected)
    if not problems:
        return
    match = next((name for name, exp in others.items() if not mismatches(facts, exp)), None)
    looks = f"; they look like {match} weights" if match else ""
    raise HarnessError(
        f"{folder / 'config.json'} does not match {expected.generation}: {problems[0]}{looks}",
        f"use backbone={match} or point backbone.path at {expected.generation} weights" if match
        else f"point backbone.path at {expected.generation} weights",
    )
