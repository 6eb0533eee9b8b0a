"""The held-out loss each LLaMA model card records is what the shipped weights give (measured here)."""
from __future__ import annotations

import pytest

from harness.model_cards import load_card
from harness_plugins.organisms.build import PACKAGED
from harness_plugins.organisms.pretrain import HELDOUT_SEED, heldout_bits_per_character


@pytest.mark.parametrize("generation", ["llama1", "llama2", "llama3"])
def test_card_records_the_shipped_organisms_held_out_loss(generation):
    from transformers import AutoTokenizer, LlamaForCausalLM

    from harness_plugins.scene.world import corpus

    recorded = load_card(generation).variant("tiny").build["heldout"]
    folder = PACKAGED / generation
    measured = heldout_bits_per_character(LlamaForCausalLM.from_pretrained(str(folder)),
                                          AutoTokenizer.from_pretrained(str(folder)),
                                          list(corpus(HELDOUT_SEED, recorded["docs"])))
    assert measured["loss_per_token"] == pytest.approx(recorded["loss_per_token"], abs=2e-3)
    assert measured["bits_per_character"] == pytest.approx(recorded["bits_per_character"], abs=2e-3)
