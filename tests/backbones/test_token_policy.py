"""Pad policy: a dedicated pad token (never EOS), the image token, embeddings padded to a multiple of 64."""
from __future__ import annotations

import pytest

from harness.kinds.backbone import IMAGE_TOKEN, PAD_TOKEN, VOCAB_MULTIPLE
from harness_plugins.backbones.tokenizer_policy import apply_token_policy, padded_vocab_size, resize_embeddings

GENERATIONS = ("llama1", "llama2", "llama3")


@pytest.mark.parametrize("generation", GENERATIONS)
def test_pad_token_is_dedicated_not_eos(generation, tokenizers):
    tok = tokenizers[generation]
    assert tok.pad_token == PAD_TOKEN
    assert tok.pad_token_id not in (tok.eos_token_id, tok.bos_token_id, tok.unk_token_id)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_image_token_is_one_special_token(generation, tokenizers):
    tok = tokenizers[generation]
    assert tok.encode(f"a {IMAGE_TOKEN} b", add_special_tokens=False).count(tok.convert_tokens_to_ids(IMAGE_TOKEN)) == 1


@pytest.mark.parametrize("generation", GENERATIONS)
def test_loaded_model_embeddings_hold_every_token_padded_to_64(generation, backbones, tokenizers):
    model = backbones[generation].load_model(tokenizer=tokenizers[generation])
    rows = model.get_input_embeddings().weight.shape[0]
    assert rows % VOCAB_MULTIPLE == 0 and rows >= len(tokenizers[generation])
    assert model.get_output_embeddings().weight.shape[0] == rows
    assert model.config.pad_token_id == tokenizers[generation].pad_token_id


def test_new_embedding_rows_are_the_mean_of_the_old(backbones, tokenizers):
    import torch
    from transformers import LlamaForCausalLM

    folder = backbones["llama1"].weights_dir()
    plain = LlamaForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    old = plain.get_input_embeddings().weight.detach().clone()
    resize_embeddings(plain, tokenizers["llama1"])
    new = plain.get_input_embeddings().weight
    assert torch.equal(new[:old.shape[0]], old)
    assert torch.allclose(new[old.shape[0]:], old.mean(0, keepdim=True).expand(new.shape[0] - old.shape[0], -1))


def test_token_policy_is_idempotent(tokenizers):
    tok = tokenizers["llama2"]
    before = len(tok)
    apply_token_policy(tok, "llama2", "test")
    assert len(tok) == before


def test_resize_leaves_a_padded_checkpoint_alone(backbones, tokenizers):
    model = backbones["llama3"].load_model(tokenizer=tokenizers["llama3"])
    weight = model.get_input_embeddings().weight
    resize_embeddings(model, tokenizers["llama3"])
    assert model.get_input_embeddings().weight is weight


@pytest.mark.parametrize("n, padded", [(1, 64), (64, 64), (65, 128), (32002, 32064), (128258, 128320)])
def test_padded_vocab_size_rounds_up_to_64(n, padded):
    assert padded_vocab_size(n) == padded
