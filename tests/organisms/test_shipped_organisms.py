"""The shipped LLaMA organisms: loadable with stock transformers, and different as the generations are."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

ORGANISMS_DIR = Path(__file__).resolve().parents[2] / "plugins" / "organisms"
GENERATIONS = ("llama1", "llama2", "llama3")
MiB = 1024 * 1024


def folder(name: str) -> Path:
    import harness_plugins.organisms

    return Path(harness_plugins.organisms.__file__).parent / name


@pytest.fixture(scope="module")
def configs():
    from transformers import AutoConfig

    return {g: AutoConfig.from_pretrained(str(folder(g))) for g in GENERATIONS}


@pytest.fixture(scope="module")
def tokenizers():
    from transformers import AutoTokenizer

    return {g: AutoTokenizer.from_pretrained(str(folder(g))) for g in GENERATIONS}


@pytest.mark.parametrize("generation", GENERATIONS)
def test_organism_loads_with_stock_from_pretrained_as_float32(generation):
    import torch
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(str(folder(generation)))
    assert model.dtype == torch.float32
    ids = torch.tensor([[1, 5, 9, 12]])
    assert model(input_ids=ids).logits.shape == (1, 4, model.config.vocab_size)


def test_llama3_uses_gqa_and_llama1_2_use_mha(configs):
    assert configs["llama1"].num_key_value_heads == configs["llama1"].num_attention_heads
    assert configs["llama2"].num_key_value_heads == configs["llama2"].num_attention_heads
    assert configs["llama3"].num_attention_heads == 4 * configs["llama3"].num_key_value_heads


def test_rope_theta_norm_eps_and_context_follow_the_real_generations(configs):
    def theta(c):
        return (getattr(c, "rope_parameters", None) or {}).get("rope_theta") or c.rope_theta

    assert [theta(configs[g]) for g in GENERATIONS] == [1e4, 1e4, 5e5]
    assert [configs[g].rms_norm_eps for g in GENERATIONS] == [1e-6, 1e-5, 1e-5]
    contexts = [configs[g].max_position_embeddings for g in GENERATIONS]
    assert [c / contexts[0] for c in contexts] == [1, 2, 4]  # 2048 : 4096 : 8192


def test_ffn_ratio_follows_the_real_generations(configs):
    for g, real in (("llama1", 11008 / 4096), ("llama2", 11008 / 4096), ("llama3", 14336 / 4096)):
        assert configs[g].intermediate_size / configs[g].hidden_size == pytest.approx(real, rel=0.01)


def test_llama3_vocabulary_is_about_four_times_llama1_2(tokenizers):
    assert len(tokenizers["llama1"]) == len(tokenizers["llama2"])
    assert 3.5 < len(tokenizers["llama3"]) / len(tokenizers["llama1"]) < 4.5  # real: 128256 / 32000


def test_llama1_2_tokenizers_have_sentencepiece_specials_and_byte_fallback(tokenizers):
    for g in ("llama1", "llama2"):
        tok = tokenizers[g]
        assert tok.convert_ids_to_tokens([0, 1, 2, 3, 258]) == ["<unk>", "<s>", "</s>", "<0x00>", "<0xFF>"]
        ids = tok.encode("漢", add_special_tokens=False)
        assert tok.convert_ids_to_tokens(ids)[-3:] == ["<0xE6>", "<0xBC>", "<0xA2>"]
        assert tok.decode(ids) == "漢"
        assert tok.encode("cube")[0] == tok.bos_token_id == 1


def test_llama3_tokenizer_has_its_special_tokens_and_groups_digits_by_three(tokenizers):
    tok = tokenizers["llama3"]
    for special in ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"):
        assert len(tok.encode(special, add_special_tokens=False)) == 1
    assert (tok.bos_token, tok.eos_token) == ("<|begin_of_text|>", "<|end_of_text|>")
    groups = [piece for piece, _ in tok.backend_tokenizer.pre_tokenizer.pre_tokenize_str("1234567")]
    assert groups == ["123", "456", "7"]
    assert tokenizers["llama1"].convert_ids_to_tokens(tokenizers["llama1"].encode("12", add_special_tokens=False)) \
        == ["▁", "1", "2"]


def test_no_organism_ships_a_pad_token(tokenizers):
    assert all(tok.pad_token is None for tok in tokenizers.values())  # like the real ones


def test_pretraining_budgets_are_in_the_real_ratio_1_2_15():
    budgets = [json.loads((folder(g) / "build.json").read_text())["token_budget"] for g in GENERATIONS]
    assert [b / budgets[0] for b in budgets] == [1, 2, 15]


def test_shipped_llama_organisms_fit_their_size_budget():
    sizes = {g: sum(f.stat().st_size for f in folder(g).iterdir()) for g in GENERATIONS}
    assert all(size <= 6 * MiB for size in sizes.values()), sizes


def test_model_cards_record_each_organisms_build():
    from harness.model_cards import load_card

    for g in GENERATIONS:
        tiny = load_card(g).variant("tiny")
        record = json.loads((folder(g) / "build.json").read_text())
        assert tiny.build["token_budget"] == record["token_budget"]
        assert tiny.build["seed"] == record["seed"]
        assert tiny.build["command"].startswith("harness organisms build")
        assert tiny.architecture["vocab_size"] == record["vocab_size"]


def bits_per_character(generation: str, texts: list[str]) -> float:
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(folder(generation)))
    model = LlamaForCausalLM.from_pretrained(str(folder(generation)))
    nats = 0.0
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tok.encode(text) + [tok.eos_token_id]])
            out = model(input_ids=ids, labels=ids)
            nats += float(out.loss) * (ids.shape[1] - 1)
    return nats / math.log(2) / sum(len(t) + 1 for t in texts)


def test_a_later_generation_knows_more_of_the_held_out_scene_text():
    """Bits per character (tokenizer-independent) on held-out corpus documents: 1 < 2 < 15 units."""
    from harness_plugins.scene.world import corpus

    texts = list(corpus(987_654, 40))
    bpc = {g: bits_per_character(g, texts) for g in GENERATIONS}
    assert bpc["llama3"] < bpc["llama2"] < bpc["llama1"], bpc


def test_every_generation_is_a_working_language_model_of_the_scene_text():
    """At 16 pretraining steps LLaMA-1 stood at 1.38 bits per character (LLaMA-2 1.17): no language model for
    a VLM to build on. Every generation must model held-out scene text, the later ones better."""
    from harness_plugins.scene.world import corpus

    bpc = {g: bits_per_character(g, list(corpus(987_654, 40))) for g in GENERATIONS}
    assert max(bpc.values()) < 0.5, bpc
