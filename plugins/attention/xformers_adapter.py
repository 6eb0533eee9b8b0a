"""transformers -> xformers attention adapter: layout, grouped-query heads, causal/padding bias, scale.

transformers calls an attention function with (B, H, S, D) tensors and a mask that is ``None``
(plain causal, or no mask at all for encoders) or a 4-D boolean/additive mask. xformers'
``memory_efficient_attention`` wants (B, S, H, D), grouped-query heads as a 5-D (B, S, G, R, D)
layout with keys/values expanded (no copy) over R, and a bias object or an additive tensor.

Everything up to the kernel call is plain torch, so it is tested on the CPU (where xformers has no
kernels) by injecting a reference kernel; the xformers call itself is :func:`xformers_kernel`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

NO_BIAS, CAUSAL, CAUSAL_FROM_BOTTOM_RIGHT, TENSOR = "none", "causal", "causal_from_bottom_right", "tensor"
BIAS_ALIGNMENT = 8  # xformers wants the bias row stride to be a multiple of 8 elements


@dataclass(frozen=True)
class BiasPlan:
    """What to add to the attention scores, independent of the kernel.

    ``causal``: query i sees keys j <= i (xformers' ``LowerTriangularMask``).
    ``causal_from_bottom_right``: query i sees keys j <= i + (kv_len - q_len), the last query
    sees every key (``LowerTriangularFromBottomRightMask``; decoding with a cache).
    ``tensor``: an additive (B, H, Q, KV) float tensor laid out for the kernel's heads.
    """

    kind: str
    tensor: torch.Tensor | None = None


Kernel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, BiasPlan, float, float], torch.Tensor]


def plan_bias(attention_mask: torch.Tensor | None, q_len: int, kv_len: int, is_causal: bool,
              dtype: torch.dtype) -> BiasPlan:
    """The bias for a transformers mask: None means causal (decoders) or nothing (encoders)."""
    if attention_mask is None:
        if not is_causal or q_len == 1:
            return BiasPlan(NO_BIAS)
        return BiasPlan(CAUSAL if q_len == kv_len else CAUSAL_FROM_BOTTOM_RIGHT)
    mask = attention_mask[:, :, :, :kv_len]
    if mask.dtype == torch.bool:
        # The most negative finite value, not -inf: a fully padded query row then averages instead of
        # giving NaN, as eager attention does with transformers' additive masks.
        bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        bias = bias.masked_fill(~mask, torch.finfo(dtype).min)
    else:
        bias = mask.to(dtype)
    return BiasPlan(TENSOR, bias)


def to_kernel_layout(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     bias: BiasPlan) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, BiasPlan]:
    """(B, H, S, D) -> (B, S, H, D); grouped-query heads -> (B, S, G, R, D) with K/V expanded over R.

    Query head h uses key/value head h // R, the same grouping as transformers' ``repeat_kv``.
    """
    batch, q_heads, q_len, dim = query.shape
    kv_heads, kv_len = key.shape[1], key.shape[2]
    if q_heads % kv_heads:
        raise ValueError(f"{q_heads} query heads are not a multiple of {kv_heads} key/value heads")
    rep = q_heads // kv_heads
    q, k, v = query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)
    tensor = bias.tensor
    if rep == 1:
        if tensor is not None:
            tensor = tensor.expand(batch, q_heads, q_len, kv_len)
        return q, k, v, BiasPlan(bias.kind, tensor)
    q = q.reshape(batch, q_len, kv_heads, rep, dim)
    k = k.unsqueeze(3).expand(batch, kv_len, kv_heads, rep, dim)
    v = v.unsqueeze(3).expand(batch, kv_len, kv_heads, rep, value.shape[-1])
    if tensor is not None:
        if tensor.shape[1] == 1:
            tensor = tensor.unsqueeze(1).expand(batch, kv_heads, rep, q_len, kv_len)
        else:  # one bias per query head: split heads like the query
            tensor = tensor.expand(batch, q_heads, q_len, kv_len).reshape(batch, kv_heads, rep, q_len, kv_len)
    return q, k, v, BiasPlan(bias.kind, tensor)


def from_kernel_layout(out: torch.Tensor) -> torch.Tensor:
    """Kernel output (B, S, H, D) or (B, S, G, R, D) -> transformers' (B, S, H, D), contiguous."""
    if out.dim() == 5:
        out = out.flatten(2, 3)
    return out.contiguous()


def make_attention_function(kernel: Kernel) -> Callable[..., tuple[torch.Tensor, None]]:
    """An attention function with transformers' signature that runs ``kernel`` on xformers' layout."""

    def attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                  attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                  **kwargs: Any) -> tuple[torch.Tensor, None]:
        if kwargs.get("softcap") is not None or kwargs.get("sliding_window") is not None:
            raise ValueError("the xformers attention adapter supports neither softcap nor sliding windows")
        is_causal = kwargs.get("is_causal")
        is_causal = getattr(module, "is_causal", True) if is_causal is None else is_causal
        scale = scaling if scaling is not None else query.shape[-1] ** -0.5
        plan = plan_bias(attention_mask, query.shape[2], key.shape[2], bool(is_causal), query.dtype)
        q, k, v, plan = to_kernel_layout(query, key, value, plan)
        return from_kernel_layout(kernel(q, k, v, plan, float(scale), float(dropout))), None

    return attention


def aligned_bias(tensor: torch.Tensor, multiple: int = BIAS_ALIGNMENT) -> torch.Tensor:
    """The same values in storage whose rows start on ``multiple``-element boundaries (xformers'
    requirement for tensor biases): a padded buffer sliced back to the original shape.

    Broadcast dimensions (stride 0: heads of a padding mask, the groups of GQA) stay broadcast, so a
    (B, 1, Q, KV) padding mask costs B*Q*KV elements, not B*H*Q*KV (4 GiB per call at B=16, H=32,
    S=2048 in bf16). xformers' alignment check accepts stride 0 (0 is a multiple of 8).
    """
    kv_len = tensor.shape[-1]
    padded = -(-kv_len // multiple) * multiple
    broadcast = [size > 1 and stride == 0 for size, stride in zip(tensor.shape[:-1], tensor.stride()[:-1])]
    compact = tensor[tuple(slice(0, 1) if b else slice(None) for b in broadcast)]
    buffer = torch.empty(*compact.shape[:-1], padded, dtype=tensor.dtype, device=tensor.device)
    buffer[..., :kv_len] = compact
    return buffer[..., :kv_len].expand(tensor.shape)


def to_xformers_bias(plan: BiasPlan) -> Any:
    """The xformers bias object (or aligned tensor) for a plan."""
    from xformers.ops.fmha import attn_bias

    if plan.kind == NO_BIAS:
        return None
    if plan.kind == CAUSAL:
        return attn_bias.LowerTriangularMask()
    if plan.kind == CAUSAL_FROM_BOTTOM_RIGHT:
        return attn_bias.LowerTriangularFromBottomRightMask()
    return aligned_bias(plan.tensor)


def xformers_kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: BiasPlan, scale: float,
                    p: float) -> torch.Tensor:
    """The real kernel: ``xformers.ops.memory_efficient_attention`` (CUDA only)."""
    from xformers.ops import memory_efficient_attention

    return memory_efficient_attention(q, k, v, attn_bias=to_xformers_bias(plan), p=p, scale=scale)


xformers_attention = make_attention_function(xformers_kernel)
