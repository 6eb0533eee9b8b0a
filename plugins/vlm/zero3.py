"""Building a model already partitioned for DeepSpeed ZeRO-3 (``deepspeed.zero.Init``).

Under ZeRO-3 each process should hold only its shard of the weights from the start, as LLaVA's own
training gets from HF Trainer: :func:`zero3_loading` makes ``from_pretrained`` run under
``zero.Init`` (transformers' ``HfDeepSpeedConfig`` mechanism: rank 0 reads the checkpoint and each
rank keeps its shard), :func:`gathered` wraps every read or write of a partitioned parameter, and
:func:`partition_rest` partitions what the composition built whole (the projector, resized
embeddings). Without a ZeRO-3 config every helper is a no-op and DeepSpeed is not even imported.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, Optional


def is_zero3(ds_config: Optional[dict[str, Any]]) -> bool:
    """Whether a DeepSpeed config partitions the parameters (ZeRO stage 3)."""
    return bool(ds_config) and (ds_config.get("zero_optimization") or {}).get("stage") == 3


def is_partitioned(param: Any) -> bool:
    """Whether a parameter is a ZeRO-3 parameter (its data lives in shards across the ranks)."""
    return hasattr(param, "ds_id")


def full_numel(param: Any) -> int:
    """Elements of the whole parameter, partitioned or not."""
    return int(param.ds_numel) if is_partitioned(param) else param.numel()


def local_numel(param: Any) -> int:
    """Elements this process holds of the parameter (its shard under ZeRO-3, else all of it)."""
    return int(param.ds_tensor.numel()) if is_partitioned(param) else param.numel()


@contextmanager
def torch_linear_kept() -> Iterator[None]:
    """Undo, when the block ends, DeepSpeed's process-wide swap of ``torch.nn.functional.linear``.

    ZeRO-3 (``zero.Init``, and the engine, which runs it on its model) replaces torch's linear with its
    memory-efficient one "until manually reset" (DeepSpeed's words): without this, everything the process
    runs afterwards (the evaluation of ``harness run``, other models) goes through DeepSpeed's version.
    """
    import torch

    linear = torch.nn.functional.linear
    try:
        yield
    finally:
        torch.nn.functional.linear = linear


def gathered(params: Iterable[Any], modifier_rank: Optional[int] = 0) -> Any:
    """``deepspeed.zero.GatheredParameters`` over the partitioned ones among ``params``; a no-op for none.

    Collective: every rank must enter it. With ``modifier_rank=0`` what rank 0 writes inside becomes
    every rank's shard on exit; ``None`` gathers for reading only.
    """
    params = list({id(p): p for p in params if p is not None and is_partitioned(p)}.values())  # tied: once
    if not params:
        return nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(params, modifier_rank=modifier_rank)


def copy_into(params: dict[str, Any], weights: dict[str, Any]) -> None:
    """Write each whole tensor of ``weights`` into the parameter of ``params`` with its name, one parameter at a
    time: under ZeRO-3 each is gathered, written on rank 0 and re-partitioned (collective: every rank calls it
    with the same names), so no rank ever holds the whole model; without ZeRO-3 a plain copy."""
    import torch

    with torch.no_grad():
        for name, tensor in weights.items():
            with gathered([params[name]], modifier_rank=0):
                params[name].data.copy_(tensor)


@contextmanager
def zero3_loading(ds_config: Optional[dict[str, Any]]) -> Iterator[None]:
    """Inside, transformers' ``from_pretrained`` builds models under ``deepspeed.zero.Init(ds_config)``.

    A no-op unless ``ds_config`` is ZeRO-3, and inside an enclosing one. transformers holds the config
    through a weak reference, kept alive here until the block ends.
    """
    if not is_zero3(ds_config):
        yield
        return
    from transformers.integrations import HfDeepSpeedConfig, is_deepspeed_zero3_enabled, unset_hf_deepspeed_config

    if is_deepspeed_zero3_enabled():
        yield
        return
    keep = HfDeepSpeedConfig(ds_config)
    try:
        with torch_linear_kept():
            yield
    finally:
        unset_hf_deepspeed_config()
        del keep


def config_dtype(ds_config: dict[str, Any]) -> Any:
    """The dtype ZeRO-3 keeps parameters in under ``ds_config`` (as ``zero.Init`` picks it)."""
    import torch

    if (ds_config.get("bf16") or {}).get("enabled"):
        return torch.bfloat16
    if (ds_config.get("fp16") or {}).get("enabled"):
        return torch.float16
    return torch.float32


def partition_rest(model: Any, ds_config: Optional[dict[str, Any]]) -> Any:
    """Partition the parameters that were built whole (cast to ZeRO-3's dtype first, as the engine
    would); returns ``model``. Collective under ZeRO-3 (rank 0's values win); a no-op otherwise."""
    if not is_zero3(ds_config):
        return model
    whole = [p for p in model.parameters() if not is_partitioned(p)]
    if not whole:
        return model
    import deepspeed

    dtype = config_dtype(ds_config)
    for param in whole:
        if param.is_floating_point() and param.dtype != dtype:
            param.data = param.data.to(dtype)
    with torch_linear_kept():
        deepspeed.zero.Init(module=model, config_dict_or_path=ds_config)
    return model
