"""Shipped model cards validate and carry the facts of REFERENCE.md section 2."""
import pytest

from harness.errors import HarnessError
from harness.model_cards import load_card, parse_card


@pytest.mark.parametrize("name, kv_heads, vocab, theta, context", [
    ("llama1", 32, 32000, 10000, 2048),
    ("llama2", 32, 32000, 10000, 4096),
    ("llama3", 8, 128256, 500000, 8192),
])
def test_backbone_cards_hold_the_generation_facts(name, kv_heads, vocab, theta, context):
    card = load_card(name)
    assert card.kind == "backbone" and card.default_variant == "tiny" and card.variants["tiny"].organism
    assert (card.facts["num_kv_heads"], card.facts["vocab_size"], card.facts["rope_theta"], card.facts["context"]) == (
        kv_heads, vocab, theta, context)
    assert all(v.hf_repo for v in card.variants.values() if not v.organism)


def test_the_clip_card_names_the_llava_encoder():
    card = load_card("clip")
    assert card.variants["vit-l-14-336"].hf_repo == "openai/clip-vit-large-patch14-336"
    assert card.facts["feature_layer"] == -2


@pytest.mark.parametrize("mutate, fragment", [
    (lambda c: c.pop("facts"), "'facts' must be a mapping"),
    (lambda c: c.update(colour="red"), "unknown key 'colour'"),
    (lambda c: c["facts"].pop("rope_theta"), "facts lack rope_theta"),
    (lambda c: c.update(default_variant="huge"), "default_variant 'huge'"),
    (lambda c: c["variants"].update(big={"params": 1}), "variant 'big' needs 'hf_repo'"),
])
def test_invalid_cards_are_one_line_errors(mutate, fragment):
    import yaml

    from harness.model_cards import card_path

    raw = yaml.safe_load(card_path("llama3").read_text())
    mutate(raw)
    with pytest.raises(HarnessError, match=fragment.replace("(", r"\(")):
        parse_card(raw, source="test.yaml")


def test_an_unknown_variant_lists_the_known_ones():
    with pytest.raises(HarnessError, match="known variants: tiny, 8b"):
        load_card("llama3").variant("9b")
