"""Our pure-torch stand-in for ``xformers.ops.memory_efficient_attention``, on xformers' layouts.

Not xformers code: written for this project from xformers' documented semantics, so the adapter's
layout, grouped-query and bias handling can be checked on the CPU, where xformers has no kernels.
Layouts: (B, M, H, K), or (B, M, G, H, K) for grouped heads. Biases are the adapter's
:class:`BiasPlan`, materialized densely the way xformers' bias classes materialize themselves.
"""
from __future__ import annotations

import torch

from .xformers_adapter import CAUSAL, CAUSAL_FROM_BOTTOM_RIGHT, NO_BIAS, BiasPlan


def materialize(plan: BiasPlan, q_len: int, kv_len: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The plan as an additive (..., Q, KV) tensor (-inf where a key is hidden)."""
    if plan.kind == NO_BIAS:
        return torch.zeros(q_len, kv_len, dtype=dtype, device=device)
    if plan.kind in (CAUSAL, CAUSAL_FROM_BOTTOM_RIGHT):
        shift = 0 if plan.kind == CAUSAL else kv_len - q_len
        rows = torch.arange(q_len, device=device)[:, None]
        cols = torch.arange(kv_len, device=device)[None, :]
        zeros = torch.zeros(q_len, kv_len, dtype=dtype, device=device)
        return zeros.masked_fill(cols > rows + shift, float("-inf"))
    return plan.tensor.to(dtype)


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
