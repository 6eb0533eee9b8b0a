"""Run one ZeRO-3 finetune stage on the llama3 + CLIP organisms in its own process (alone or under
torchrun), the model composed through the plugins either whole (DeepSpeed shards it when the engine
starts) or partitioned as it is built (``deepspeed.zero.Init``, what the recipe does under ZeRO-3).

usage: run_organism_stage.py RUN_DIR {whole,zero_init} [--resume] [--stop-after N] [--every K]
       [--align FILE] [--lora] [--gradient-checkpointing] [--probe] [--export]

--align loads stage-1 weights (a safetensors file) into the model as the recipe does; --probe writes
what each rank holds right after construction (probe_rank<R>.json); --export writes the Hugging Face
export and whether it equals the engine's weights (export.json).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

torch.set_num_threads(1)

from harness_plugins.recipes.llava15 import distributed
from harness_plugins.recipes.llava15.stage import StagePlan, run_stage, stage_deepspeed_config
from harness_plugins.vlm.zero3 import full_numel, gathered, local_numel, zero3_loading

VARIANT = "tiny"
LORA = {"r": 4, "alpha": 8, "dropout": 0.0}


def plugins():
    """The llama3 backbone and CLIP vision plugins (their packaged organisms)."""
    from harness.lazy import load_ref
    from harness.plugin_manager import get_plugins

    registry = get_plugins()
    b = registry.registry("backbones").entry("llama3").spec
    v = registry.registry("vision").entry("clip").spec
    return load_ref(b.implementation)(b.model_card), load_ref(v.implementation)(v.model_card)


def compose(zero3_config=None):
    """The organism LLaVA as the recipe's build_model composes it (fp32, train mode)."""
    from harness_plugins.vlm.build import compose_from_plugins

    backbone, vision = plugins()
    model, processor = compose_from_plugins(backbone, vision, backbone_variant=VARIANT, vision_variant=VARIANT,
                                            attn_implementation="sdpa", seed=0, zero3_config=zero3_config)
    return model.train(), processor


def samples(tokenizer, n: int = 32) -> list[dict]:
    """Image-conditioned samples: the answer token is a function of the image's mean colour."""
    from harness_plugins.vlm.compose import image_token_id

    image, image_tokens = image_token_id(tokenizer), 64  # (64 / 8)^2 CLIP organism patches
    gen = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        cls = i % 4
        pixels = torch.randn(3, 64, 64, generator=gen) * 0.1 + (cls - 1.5)
        prompt = [tokenizer.bos_token_id] + [image] * image_tokens + [300 + j for j in range(1 + i % 3)]
        answer = [1000 + cls, tokenizer.eos_token_id]
        out.append({"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer, "pixel_values": pixels})
    return out


def probe(model, zero3_config, rank: int, out: Path) -> None:
    """What this rank holds of the model right after construction, and of a tower loaded alone."""
    _, vision = plugins()
    with zero3_loading(zero3_config):
        tower = vision.load_model(VARIANT, None)
    params = list(model.parameters())
    facts = {"local": sum(local_numel(p) for p in params), "full": sum(full_numel(p) for p in params),
             "nonempty": sum(p.numel() > 0 for p in params), "count": len(params),
             "tower_local": sum(local_numel(p) for p in tower.parameters()),
             "tower_full": sum(full_numel(p) for p in tower.parameters())}
    (out / f"probe_rank{rank}.json").write_text(json.dumps(facts))


def export(engine, batch, pad_id: int, lora, rank: int, out: Path) -> None:
    """Export as the recipe does; rank 0 records how the reloaded checkpoint compares with the engine
    (weights, unless LoRA was merged, and logits on ``batch``)."""
    from transformers import LlavaForConditionalGeneration

    from harness_plugins.recipes.llava15.collate import collate
    from harness_plugins.recipes.llava15.export import export_checkpoint, gathered_state_dict, materialize

    weights = gathered_state_dict(engine)
    params = dict(engine.module.named_parameters())
    with gathered(params.values(), modifier_rank=None):
        engine_weights = {n: p.detach().clone() for n, p in params.items()}
    inputs = collate(batch, pad_id)
    inputs.pop("labels")  # with labels the recipe's supervised loss skips the logits
    engine.module.eval()
    with torch.no_grad():
        engine_logits = engine.module(**inputs).logits  # collective under ZeRO-3: every rank runs it
    if rank != 0:
        return
    model = materialize(weights, lambda: compose()[0], lora)
    loaded = LlavaForConditionalGeneration.from_pretrained(export_checkpoint(model, out / "model")).eval()
    exported = dict(loaded.named_parameters())
    with torch.no_grad():
        logits_diff = float((loaded(**inputs).logits - engine_logits).abs().max())
    fresh = dict(compose()[0].named_parameters())
    (out / "export.json").write_text(json.dumps({
        "mismatch": [] if lora else [n for n, w in engine_weights.items() if not torch.equal(exported[n], w)],
        "logits_diff": logits_diff, "trained": [n for n in exported if not torch.equal(exported[n], fresh[n])]}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("mode", choices=("whole", "zero_init"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--stop-after", type=int)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--align", type=Path)
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--export", action="store_true")
    args = parser.parse_args()
    from harness.model_folders import read_config
    from harness_plugins.recipes.llava15.train import load_stage_weights

    info = distributed.setup()
    args.run_dir.mkdir(parents=True, exist_ok=True)
    lora = LORA if args.lora else None
    plan = StagePlan(name="finetune", lr=2e-3, global_batch=8, micro_batch=8 // (2 * info.world_size),
                     train_llm=True, zero_stage=3, max_steps=4, checkpoint_every=args.every, seed=3, lora=lora,
                     gradient_checkpointing=args.gradient_checkpointing, stop_after_step=args.stop_after)
    hidden = read_config(plugins()[0].weights_dir(VARIANT, None), "backbone.path")["hidden_size"]  # as build_parts
    zero3_config = stage_deepspeed_config(plan, info.world_size, False, hidden) if args.mode == "zero_init" else None
    model, processor = compose(zero3_config)
    if args.probe:
        probe(model, zero3_config, info.rank, args.run_dir)
    if args.align:
        load_stage_weights(model, args.align)
    data = samples(processor.tokenizer)
    result = run_stage(plan, model, data, processor.tokenizer.pad_token_id, args.run_dir / "finetune",
                       args.run_dir / "metrics.jsonl", resume=args.resume)
    if args.export:
        export(result.engine, data[:4], processor.tokenizer.pad_token_id, lora, info.rank, args.run_dir)


if __name__ == "__main__":
    main()
