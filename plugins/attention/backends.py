"""The built-in attention backends: registering each with transformers and saying whether it runs.

``eager`` and ``sdpa`` are transformers' own; ``xformers`` is our adapter, registered in both
``AttentionInterface`` (the kernel) and ``AttentionMaskInterface`` (SDPA's boolean masks, which
are ``None`` for plain causal attention, so the adapter can use xformers' causal bias object).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

XFORMERS_HINT = "pip install 'harness[xformers]' (it pins torch 2.10.0 and torchvision 0.25.0: xformers 0.0.35's kernels are built for that torch)"


def register_attention_function(name: str, function: Callable[..., Any]) -> str:
    """Register ``function`` (transformers' attention signature) as ``attn_implementation=name``,
    with SDPA-style masks."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(name, function)
    AttentionMaskInterface.register(name, sdpa_mask)
    return name


def register_eager() -> str:
    return "eager"  # built into transformers


def register_sdpa() -> str:
    return "sdpa"  # built into transformers


def register_xformers() -> str:
    from .xformers_adapter import xformers_attention

    return register_attention_function("xformers", xformers_attention)


def eager_available(device: Any = "cpu") -> tuple[bool, str]:
    return True, "matmul + softmax runs on every device"


def sdpa_available(device: Any = "cpu") -> tuple[bool, str]:
    import torch

    return True, f"torch {torch.__version__} scaled_dot_product_attention runs on {torch.device(device).type}"


def xformers_available(device: Any = "cpu") -> tuple[bool, str]:
    """Whether xformers' kernels really run here: imported, and a tiny causal call succeeds."""
    import torch

    device = torch.device(device)
    # A wheel built for another torch logs its failed C++ load at import; the reason below says it in one line.
    logging.getLogger("xformers").setLevel(logging.ERROR)
    try:
        import xformers
        from xformers.ops import memory_efficient_attention
        from xformers.ops.fmha.attn_bias import LowerTriangularMask
    except Exception as exc:  # ImportError, or a broken build failing at import
        return False, f"xformers does not import ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); {XFORMERS_HINT}"
    if device.type != "cuda":
        return False, f"xformers {xformers.__version__} has no kernels for {device.type}"
    try:
        q = torch.randn(1, 16, 2, 64, device=device, dtype=torch.float16)
        memory_efficient_attention(q, q, q, attn_bias=LowerTriangularMask())
        torch.cuda.synchronize(device)
    except Exception as exc:  # "No operator found" when the wheel's torch differs from ours
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return False, (f"xformers {xformers.__version__} kernels do not run with torch {torch.__version__} "
                       f"on {torch.cuda.get_device_name(device)} ({first}); {XFORMERS_HINT}")
    return True, f"xformers {xformers.__version__} kernels run on {torch.cuda.get_device_name(device)}"
