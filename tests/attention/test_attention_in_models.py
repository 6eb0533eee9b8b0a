"""Attention backends inside real transformers models shaped like the three LLaMA organisms."""
import pytest
import torch
from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaForCausalLM

from harness_plugins.attention.backends import register_attention_function, register_xformers
from harness_plugins.attention.reference import reference_memory_efficient_attention
from harness_plugins.attention.xformers_adapter import make_attention_function
from harness_plugins.organisms.specs import ORGANISMS

VOCAB = 96
# The xformers adapter with OUR reference kernel in place of xformers' CUDA kernel (see reference.py).
XFORMERS_ON_CPU = register_attention_function("xformers_reference",
                                              make_attention_function(reference_memory_efficient_attention))


def organism_model(name: str, attn: str) -> LlamaForCausalLM:
    config = ORGANISMS[name].llama_config(VOCAB, 1, 2)
    config.num_hidden_layers = 2  # the attention shapes matter here, not the depth
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    model.set_attn_implementation(attn)
    return model


def padded_batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, VOCAB, (2, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :4] = 0  # left padding, as batched generation uses
    return ids, mask


def logits(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits * mask[..., None]


@pytest.mark.parametrize("organism", ["llama1", "llama2", "llama3"])
def test_sdpa_matches_eager_on_organism_shapes(organism):
    ids, mask = padded_batch()
    eager = logits(organism_model(organism, "eager"), ids, mask)
    sdpa = logits(organism_model(organism, "sdpa"), ids, mask)
    torch.testing.assert_close(sdpa, eager, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("organism", ["llama1", "llama2", "llama3"])
def test_sdpa_and_the_xformers_adapter_match_eager_on_the_shipped_organisms(organism):
    """The built organisms themselves (trained weights, their tokenizers), loaded by the backbone plugin."""
    from harness.lazy import load_ref
    from harness.plugin_manager import get_plugins

    spec = get_plugins().registry("backbones").get(organism)
    backbone = load_ref(spec.implementation)(spec.model_card)
    tokenizer = backbone.load_tokenizer()
    tokenizer.padding_side = "left"
    batch = tokenizer(["there is a red circle left of the blue square .", "how many shapes ?"],
                      return_tensors="pt", padding=True)
    out = {}
    for attn in ("eager", "sdpa", XFORMERS_ON_CPU):
        model = backbone.load_model(attn_implementation=attn, tokenizer=tokenizer).eval()
        out[attn] = logits(model, batch["input_ids"], batch["attention_mask"])
    assert batch["attention_mask"][1].eq(0).any()  # the padded row is part of the check
    torch.testing.assert_close(out["sdpa"], out["eager"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out[XFORMERS_ON_CPU], out["eager"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("organism", ["llama1", "llama3"])
def test_xformers_adapter_matches_eager_on_organism_shapes(organism):
    ids, mask = padded_batch()
    eager = logits(organism_model(organism, "eager"), ids, mask)
    adapted = logits(organism_model(organism, XFORMERS_ON_CPU), ids, mask)
    torch.testing.assert_close(adapted, eager, rtol=1e-4, atol=1e-4)


def test_xformers_adapter_generates_like_eager_with_a_kv_cache():
    ids, mask = padded_batch()
    outs = {}
    for attn in ("eager", XFORMERS_ON_CPU):
        model = organism_model("llama3", attn)
        with torch.no_grad():
            outs[attn] = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, do_sample=False,
                                        pad_token_id=0)
    assert torch.equal(outs["eager"], outs[XFORMERS_ON_CPU])


def test_xformers_adapter_matches_eager_in_a_clip_vision_encoder():
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8)
    torch.manual_seed(0)
    model = CLIPVisionModel(config).eval()
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        model.set_attn_implementation("eager")
        expected = model(pixel_values=pixels).last_hidden_state
        model.set_attn_implementation(XFORMERS_ON_CPU)
        got = model(pixel_values=pixels).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_registering_xformers_makes_it_a_transformers_attn_implementation():
    from transformers import AttentionInterface

    assert register_xformers() == "xformers"
    assert "xformers" in AttentionInterface()
    model = organism_model("llama2", "xformers")  # accepted; running it needs CUDA kernels
    assert model.config._attn_implementation == "xformers"
