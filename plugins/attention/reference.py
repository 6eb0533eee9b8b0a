"""Our pure-torch stand-in for ``xformers.ops.memory_efficient_attention``, on xformers' layouts.

The kernel is ours (xformers has no CPU kernels); the bias is xformers' own: each plan goes through
the adapter's :func:`to_xformers_bias` (the objects the real kernel receives, ``LowerTriangularMask``
and friends, or the aligned tensor) and is materialized by xformers' ``materialize``. So the adapter's
layout, grouped-query and bias handling is checked on the CPU against xformers' definition of each
bias. xformers' Python bias classes import without its compiled kernels (the test extra installs it).
Layouts: (B, M, H, K), or (B, M, G, H, K) for grouped heads.
"""
from __future__ import annotations

import logging

import torch

from .xformers_adapter import BiasPlan, to_xformers_bias


def materialize(plan: BiasPlan, q_len: int, kv_len: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The plan as an additive (..., Q, KV) tensor (-inf where a key is hidden), by xformers' own bias classes."""
    logging.getLogger("xformers").setLevel(logging.ERROR)  # "can't load C++/CUDA extensions": expected on the CPU
    bias = to_xformers_bias(plan)
    if bias is None:
        return torch.zeros(q_len, kv_len, dtype=dtype, device=device)
    if isinstance(bias, torch.Tensor):
        return bias.to(dtype)
    return bias.materialize((q_len, kv_len), dtype=dtype, device=device)


def reference_memory_efficient_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_bias: BiasPlan,
                                         scale: float, p: float = 0.0) -> torch.Tensor:
    """softmax(q k^T * scale + bias) v in float32, returned in q's dtype and layout."""
    if p:
        raise ValueError("the reference attention is deterministic: dropout must be 0")
    out_shape = q.shape[:-1] + v.shape[-1:]
    five_d = q.dim() == 5
    if five_d:  # (B, M, G, H, K) -> (B, M, G*H, K); K/V arrive expanded over H
        q, k, v = q.flatten(2, 3), k.flatten(2, 3), v.flatten(2, 3)
    qh, kh, vh = (t.transpose(1, 2).float() for t in (q, k, v))  # (B, H, M, K)
    bias = materialize(attn_bias, qh.shape[2], kh.shape[2], torch.float32, q.device)
    if five_d and bias.dim() == 5:
        bias = bias.flatten(1, 2)
    scores = qh @ kh.transpose(-1, -2) * scale + bias
    out = torch.softmax(scores, dim=-1) @ vh
    return out.transpose(1, 2).to(q.dtype).reshape(out_shape)
