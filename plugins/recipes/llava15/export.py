"""Export of the trained model as a standard Hugging Face LLaVA checkpoint.

Under ZeRO-3 every rank holds a shard, so the weights are gathered first (saving the engine's
module directly writes near-empty tensors, a known LLaVA pitfall). LoRA adapters are merged.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
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


def model_card(*, backbone: str, vision: str, data: str, recipe: str, training_hash: str,
               stages: list[dict[str, Any]]) -> str:
    lines = [
        "---", "library_name: transformers", "pipeline_tag: image-text-to-text", "tags: [llava, harness]", "---", "",
        f"# LLaVA ({backbone} + {vision})", "",
        "A standard `LlavaForConditionalGeneration` checkpoint trained by the `harness` project.", "",
        f"- **LLM backbone:** {backbone}", f"- **Vision encoder:** {vision} (frozen)", f"- **Training data:** {data}",
        f"- **Recipe:** {recipe}", f"- **Training hash:** `{training_hash}`", "", "## Stages", "",
        "| stage | steps | first loss | final loss | tokens/s |", "|---|---|---|---|---|",
    ]
    for s in stages:
        first = f"{s['first_loss']:.4f}" if s.get("first_loss") is not None else "-"
        final = f"{s['final_loss']:.4f}" if s.get("final_loss") is not None else "-"
        lines.append(f"| {s['name']} | {s['steps']} | {first} | {final} | {s['tokens_per_s']:,.0f} |")
    lines += ["", "Load with `LlavaForConditionalGeneration.from_pretrained(path)` and `AutoProcessor.from_pretrained(path)`.", ""]
    return "\n".join(lines)


def export_checkpoint(model: Any, out_dir: Path, *, processor: Any = None, readme: str = "",
                      harness_meta: Optional[dict[str, Any]] = None) -> Path:
    """Write model (safetensors), processor (with chat template), README and harness.json; atomic."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists")
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
