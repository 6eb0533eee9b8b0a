"""The xformers adapter's layout, grouped-query, mask and scale handling, checked on the CPU.

The kernel is injected: ``reference_memory_efficient_attention`` is OUR pure-torch stand-in for
xformers' kernel on xformers' layouts (xformers has no CPU kernels), computed from the bias xformers
itself materializes for what the adapter hands the real kernel (``to_xformers_bias``). What is tested
is everything the adapter does around the kernel; the expected values come from transformers' own
eager attention.
"""
from types import SimpleNamespace

import pytest
import torch
from transformers.models.llama.modeling_llama import eager_attention_forward

from harness_plugins.attention.reference import materialize, reference_memory_efficient_attention
from harness_plugins.attention.xformers_adapter import (
    CAUSAL, CAUSAL_FROM_BOTTOM_RIGHT, NO_BIAS, TENSOR, BiasPlan, aligned_bias, make_attention_function,
    plan_bias, to_kernel_layout,
)

adapter = make_attention_function(reference_memory_efficient_attention)


def module(q_heads: int, kv_heads: int, causal: bool = True):
    return SimpleNamespace(num_key_value_groups=q_heads // kv_heads, is_causal=causal, training=False)


def qkv(batch=2, q_heads=4, kv_heads=2, q_len=6, kv_len=6, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, q_heads, q_len, dim, generator=g), torch.randn(batch, kv_heads, kv_len, dim, generator=g),
            torch.randn(batch, kv_heads, kv_len, dim, generator=g))


def additive(mask_bool):
    return torch.zeros(mask_bool.shape).masked_fill(~mask_bool, torch.finfo(torch.float32).min)


def causal_padding_mask(batch, q_len, kv_len, left_pad):
    """transformers' SDPA-style boolean mask: causal (bottom-right aligned) and left padding."""
    rows = torch.arange(q_len)[:, None] + (kv_len - q_len)
    cols = torch.arange(kv_len)[None, :]
    mask = (cols <= rows).expand(batch, 1, q_len, kv_len).clone()
    for b, pad in enumerate(left_pad):
        mask[b, :, :, :pad] = False
    return mask


def test_no_mask_on_a_decoder_plans_xformers_causal_bias():
    assert plan_bias(None, 5, 5, True, torch.float32).kind == CAUSAL


def test_no_mask_with_cached_keys_plans_bottom_right_causal_bias():
    assert plan_bias(None, 3, 7, True, torch.float32).kind == CAUSAL_FROM_BOTTOM_RIGHT


def test_single_query_and_encoders_plan_no_bias():
    assert plan_bias(None, 1, 7, True, torch.float32).kind == NO_BIAS
    assert plan_bias(None, 5, 5, False, torch.float32).kind == NO_BIAS


def test_boolean_mask_becomes_additive_bias_with_finite_minimum():
    mask = torch.tensor([[[[True, False], [True, True]]]])
    plan = plan_bias(mask, 2, 2, True, torch.bfloat16)
    assert plan.kind == TENSOR and plan.tensor.dtype == torch.bfloat16
    assert plan.tensor[0, 0, 0, 1] == torch.finfo(torch.bfloat16).min
    assert plan.tensor[0, 0, 1].eq(0).all()


def test_mha_layout_is_batch_seq_heads_dim():
    q, k, v = qkv(q_heads=4, kv_heads=4)
    kq, kk, kv, _ = to_kernel_layout(q, k, v, BiasPlan(NO_BIAS))
    assert kq.shape == (2, 6, 4, 8) and torch.equal(kq[:, :, 1], q[:, 1])
    assert torch.equal(kk[:, :, 3], k[:, 3])


def test_gqa_layout_groups_query_heads_like_repeat_kv_without_copying_keys():
    q, k, v = qkv(q_heads=8, kv_heads=2)
    kq, kk, kv, _ = to_kernel_layout(q, k, v, BiasPlan(NO_BIAS))
    assert kq.shape == (2, 6, 2, 4, 8) and kk.shape == (2, 6, 2, 4, 8)
    assert kk.stride(3) == 0  # expanded over the group, not copied
    for head in range(8):  # query head h reads key/value head h // 4
        assert torch.equal(kq[:, :, head // 4, head % 4], q[:, head])
        assert torch.equal(kk[:, :, head // 4, head % 4], k[:, head // 4])


@pytest.mark.parametrize("q_heads,kv_heads", [(4, 4), (8, 2), (4, 1)])
def test_causal_attention_matches_eager(q_heads, kv_heads):
    q, k, v = qkv(q_heads=q_heads, kv_heads=kv_heads)
    m = module(q_heads, kv_heads)
    causal = causal_padding_mask(2, 6, 6, [0, 0])
    expected, _ = eager_attention_forward(m, q, k, v, additive(causal), scaling=8 ** -0.5)
    got, _ = adapter(m, q, k, v, None, scaling=8 ** -0.5)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("q_heads,kv_heads", [(4, 4), (8, 2)])
def test_padding_mask_matches_eager(q_heads, kv_heads):
    q, k, v = qkv(q_heads=q_heads, kv_heads=kv_heads)
    m = module(q_heads, kv_heads)
    mask = causal_padding_mask(2, 6, 6, [0, 3])
    expected, _ = eager_attention_forward(m, q, k, v, additive(mask), scaling=0.3)
    got, _ = adapter(m, q, k, v, mask, scaling=0.3)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_decoding_against_a_longer_cache_matches_eager():
    q, k, v = qkv(q_heads=8, kv_heads=2, q_len=3, kv_len=7)
    m = module(8, 2)
    expected, _ = eager_attention_forward(m, q, k, v, additive(causal_padding_mask(2, 3, 7, [0, 0])), scaling=0.5)
    got, _ = adapter(m, q, k, v, None, scaling=0.5)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_encoder_attention_sees_every_key():
    q, k, v = qkv(q_heads=4, kv_heads=4)
    m = module(4, 4, causal=False)
    expected, _ = eager_attention_forward(m, q, k, v, None, scaling=0.25)
    got, _ = adapter(m, q, k, v, None, scaling=0.25)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_missing_scaling_defaults_to_inverse_sqrt_head_dim():
    q, k, v = qkv(q_heads=4, kv_heads=4)
    m = module(4, 4)
    with_default, _ = adapter(m, q, k, v, None)
    explicit, _ = adapter(m, q, k, v, None, scaling=8 ** -0.5)
    assert torch.equal(with_default, explicit)


def test_reference_kernel_agrees_with_torch_sdpa():
    q, k, v = qkv(q_heads=4, kv_heads=4)
    ours = reference_memory_efficient_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                BiasPlan(CAUSAL), scale=0.4)
    torch_sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.4)
    torch.testing.assert_close(ours, torch_sdpa.transpose(1, 2), rtol=1e-5, atol=1e-5)


def test_the_reference_uses_xformers_own_bias_classes():
    from xformers.ops.fmha import attn_bias

    from harness_plugins.attention.xformers_adapter import to_xformers_bias

    assert isinstance(to_xformers_bias(BiasPlan(CAUSAL)), attn_bias.LowerTriangularMask)
    assert isinstance(to_xformers_bias(BiasPlan(CAUSAL_FROM_BOTTOM_RIGHT)), attn_bias.LowerTriangularFromBottomRightMask)
    assert to_xformers_bias(BiasPlan(NO_BIAS)) is None
    expected = attn_bias.LowerTriangularMask().materialize((4, 4), dtype=torch.float32)
    assert torch.equal(materialize(BiasPlan(CAUSAL), 4, 4, torch.float32, torch.device("cpu")), expected)


def test_bottom_right_causal_bias_lets_the_last_query_see_every_key():
    bias = materialize(BiasPlan(CAUSAL_FROM_BOTTOM_RIGHT), 2, 5, torch.float32, torch.device("cpu"))
    assert torch.isfinite(bias[-1]).all() and torch.isinf(bias[0, -1])


def test_aligned_bias_keeps_values_and_aligns_rows():
    bias = torch.randn(2, 3, 5, 13)
    aligned = aligned_bias(bias)
    assert torch.equal(aligned, bias) and aligned.stride(-2) % 8 == 0


def test_aligned_bias_keeps_broadcast_heads_broadcast():
    """A padding mask shared by every head (and every GQA group) is stored once per batch row."""
    mask = torch.randn(2, 1, 5, 13)
    per_head = mask.expand(2, 32, 5, 13)
    aligned = aligned_bias(per_head)
    assert torch.equal(aligned, per_head) and aligned.stride(1) == 0 and aligned.stride(-2) % 8 == 0
    assert aligned.untyped_storage().nbytes() == 2 * 5 * 16 * 4  # B * Q * padded KV floats, not x 32 heads
    grouped = mask.unsqueeze(1).expand(2, 4, 8, 5, 13)  # (B, G, R, Q, KV) as to_kernel_layout lays GQA out
    aligned = aligned_bias(grouped)
    assert torch.equal(aligned, grouped) and aligned.stride(1) == aligned.stride(2) == 0


def plain_sdpa(q, k, v, mask, scale):
    """The independent reference: grouped-query keys/values unpacked to one per query head (query head h
    reads key/value head h // (q_heads / kv_heads)) and torch's SDPA on transformers' (B, H, S, D) layout."""
    rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    if mask is None:  # decoder without a mask: causal, the last query aligned with the last key
        q_len, kv_len = q.shape[2], k.shape[2]
        mask = (torch.arange(kv_len)[None, :] <= torch.arange(q_len)[:, None] + (kv_len - q_len))
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale).transpose(1, 2)


@pytest.mark.parametrize("q_heads,kv_heads", [(8, 8), (8, 2), (8, 1), (6, 3)])  # llama1/2 and llama3 organisms: 8/8, 8/2
@pytest.mark.parametrize("q_len,kv_len,left_pad", [(7, 7, None), (7, 7, [0, 5]), (1, 9, None), (3, 9, [2, 0])])
def test_adapter_matches_plain_sdpa_on_the_unpacked_grouped_query_layout(q_heads, kv_heads, q_len, kv_len, left_pad):
    q, k, v = qkv(q_heads=q_heads, kv_heads=kv_heads, q_len=q_len, kv_len=kv_len, dim=16, seed=q_heads + kv_len)
    mask = causal_padding_mask(2, q_len, kv_len, left_pad) if left_pad else None
    got, _ = adapter(module(q_heads, kv_heads), q, k, v, mask, scaling=0.3)
    # Query rows that see no key at all (padding queries, whose output nothing reads) are left out:
    # there the adapter averages, as eager attention does, and SDPA gives zeros.
    seen = mask.any(-1)[:, 0] if mask is not None else torch.ones(2, q_len, dtype=torch.bool)
    assert seen.any(-1).all()
    torch.testing.assert_close(got[seen], plain_sdpa(q, k, v, mask, 0.3)[seen], rtol=1e-5, atol=1e-5)
