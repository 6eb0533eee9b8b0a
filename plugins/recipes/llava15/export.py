"""Export of the trained model as a standard Hugging Face LLaVA checkpoint.

Under ZeRO-3 every rank holds a shard, so the weights are gathered first (saving the engine's
module directly writes near-empty tensors, a known LLaVA pitfall). LoRA adapters are merged.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional


def gathered_state_dict(engine: Any, trainable_only: bool = False) -> Optional[dict[str, Any]]:
    """The full (or trainable-only) state dict on rank 0, None on other ranks. Collective: call on every rank."""
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_initialized() else 0
    if engine.zero_optimization_stage() == 3:
        state = engine._zero3_consolidated_16bit_state_dict(exclude_frozen_parameters=trainable_only)
        return {k: v.detach().cpu().clone() for k, v in state.items()} if rank == 0 else None
    if rank != 0:
        return None
    names = {n for n, p in engine.module.named_parameters() if p.requires_grad} if trainable_only else None
    return {k: v.detach().cpu().clone() for k, v in engine.module.state_dict().items() if names is None or k in names}


def save_safetensors(state: dict[str, Any], path: Path) -> None:
    """Atomic safetensors write (tied or shared tensors are cloned apart)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.contiguous().clone() for k, v in state.items()}, str(tmp))
    os.replace(tmp, path)


def load_safetensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))


def materialize(state: dict[str, Any], build_model: Callable[[], Any], lora: Optional[dict[str, Any]]) -> Any:
    """A plain CPU model holding ``state`` (from a peft-wrapped engine when ``lora``), adapters merged."""
    model = build_model()
    if lora:
        from harness_plugins.recipes.llava15.stage import set_trainable

        model = set_trainable(model, True, lora)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied weights (lm_head <-> embeddings) may be stored once; anything else missing is a bug.
    by_storage: dict[int, list[str]] = {}
    for key, tensor in model.state_dict().items():
        by_storage.setdefault(tensor.data_ptr(), []).append(key)
    tied = {k for keys in by_storage.values() if len(keys) > 1 and any(x in state for x in keys) for k in keys}
    real_missing = [k for k in missing if k not in tied]
    if unexpected or real_missing:
        raise RuntimeError(f"export state does not fit the model: missing {real_missing[:5]}, unexpected {unexpected[:5]}")
    if lora:
        model = model.merge_and_unload()
    return model


def declare_turn_end(model: Any, processor: Any, stop_token_ids: Sequence[int]) -> Any:
    """Name the chat format's turn end (``stop_token_ids[0]``) where stock tools look for EOS.

    lmms-eval's ``llava_hf`` (and most serving code) stops at ``tokenizer.eos_token_id`` alone, so a
    LLaMA-3 export whose tokenizer names ``<|end_of_text|>`` runs past ``<|eot_id|>``, the token its
    training wrote at every turn's end. Sets the model's generation config and text config to every
    stop id, the turn end first, and returns a copy of ``processor`` whose tokenizer names the turn end
    as EOS. The training tokenizer itself is left alone: the align stage's ``plain`` format still ends
    captions with the backbone's own EOS, which stays a stop id.
    """
    if not stop_token_ids:
        return processor
    turn_end = int(stop_token_ids[0])
    eos = model.generation_config.eos_token_id
    eos = eos if isinstance(eos, list) else [] if eos is None else [eos]
    ids = list(dict.fromkeys([turn_end, *map(int, stop_token_ids), *eos]))
    model.generation_config.eos_token_id = ids
    model.config.text_config.eos_token_id = ids
    if processor is None:
        return None
    processor = copy.deepcopy(processor)
    processor.tokenizer.eos_token = processor.tokenizer.convert_ids_to_tokens(turn_end)
    return processor


def export_checkpoint(model: Any, out_dir: Path, *, processor: Any = None, readme: str = "",
                      harness_meta: Optional[dict[str, Any]] = None, stop_token_ids: Sequence[int] = ()) -> Path:
    """Write model (safetensors), processor (with chat template), README and harness.json; atomic.

    ``stop_token_ids``: the backbone's (:meth:`Backbone.stop_token_ids`, turn end first), declared
    by :func:`declare_turn_end` for stock tools.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists")
    processor = declare_turn_end(model, processor, stop_token_ids)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        if processor is not None:
            processor.save_pretrained(staging)
        (staging / "README.md").write_text(readme, encoding="utf-8")
        (staging / "harness.json").write_text(json.dumps(harness_meta or {}, indent=2, default=str) + "\n", encoding="utf-8")
        os.rename(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir
