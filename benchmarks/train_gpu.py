"""Throughput of the LLaVA-style training step: the recipe's own code path beside a plain
transformers + DeepSpeed baseline, in the same process on the same card.

Shape (REFERENCE.md section 6): a LLaMA-3-shaped 1.5B backbone (hidden 2048, 16 layers, 32/8 heads,
FFN 8192, vocabulary 128256) + a CLIP ViT-L/14-336-shaped tower (random init, frozen, 576 image
tokens) + mlp2x_gelu projector, sequence 2048, bf16, ZeRO-2, LLM and projector trained.

    python benchmarks/train_gpu.py                 # full measurement (one H100: a few minutes)
    python benchmarks/train_gpu.py --quick         # fewer steps
    python benchmarks/train_gpu.py --cpu-smoke     # tiny shapes, fp32, on the CPU: checks the script runs

Prints tokens/s, model TFLOP/s, MFU (of 989 TFLOP/s dense bf16 for an H100) and peak memory, and
writes the same as JSON with --json PATH. TORCH_CUDA_ARCH_LIST entries like '9.0a' are rewritten
before DeepSpeed is imported (its op builder cannot parse them); the optimizer is torch's AdamW.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness_plugins.recipes.llava15 import distributed

distributed.sanitize_cuda_arch_list()  # before anything imports deepspeed


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    v_hidden: int
    v_layers: int
    v_heads: int
    v_ffn: int
    image_size: int
    patch: int
    seq: int


FULL = Shape(2048, 16, 32, 8, 8192, 128256, 1024, 24, 16, 4096, 336, 14, 2048)
SMOKE = Shape(64, 2, 4, 2, 128, 512, 32, 2, 2, 64, 28, 14, 64)


def build_model(shape: Shape, device: str, dtype):
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(hidden_size=shape.v_hidden, intermediate_size=shape.v_ffn, num_hidden_layers=shape.v_layers,
                              num_attention_heads=shape.v_heads, image_size=shape.image_size, patch_size=shape.patch)
    text = LlamaConfig(hidden_size=shape.hidden, intermediate_size=shape.ffn, num_hidden_layers=shape.layers,
                       num_attention_heads=shape.heads, num_key_value_heads=shape.kv_heads, vocab_size=shape.vocab,
                       max_position_embeddings=max(shape.seq, 128), rope_theta=500000.0, tie_word_embeddings=False)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=shape.vocab - 1,
                         vision_feature_layer=-2, vision_feature_select_strategy="default")
    torch.manual_seed(0)
    with torch.device(device):
        model = LlavaForConditionalGeneration._from_config(config, attn_implementation="sdpa", dtype=dtype)
    return model.train()


def synthetic_samples(shape: Shape, n: int) -> list[dict]:
    """n samples of exactly ``seq`` tokens: BOS, the image tokens, text; loss on the text."""
    import torch

    image_tokens = (shape.image_size // shape.patch) ** 2
    gen = torch.Generator().manual_seed(0)
    base = []
    for i in range(min(n, 4)):
        text = torch.randint(3, shape.vocab - 2, (shape.seq - 1 - image_tokens,), generator=gen).tolist()
        ids = [1] + [shape.vocab - 1] * image_tokens + text
        labels = [-100] * (1 + image_tokens) + text
        base.append({"input_ids": ids, "labels": labels,
                     "pixel_values": torch.randn(3, shape.image_size, shape.image_size, generator=gen)})
    return [base[i % len(base)] for i in range(n)]


def _peak_gib(cuda: bool) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if cuda else None


def _reset(cuda: bool) -> None:
    import torch

    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def measure_recipe(shape, args, device, dtype, cuda) -> dict:
    """The recipe's run_stage on synthetic samples; throughput from its metrics JSONL after warmup."""
    from harness_plugins.recipes.llava15.stage import StagePlan, run_stage

    _reset(cuda)
    model = build_model(shape, device, dtype)
    steps = args.warmup + args.steps
    samples = synthetic_samples(shape, args.micro * steps)
    plan = StagePlan(name="finetune", lr=2e-5, global_batch=args.micro, micro_batch=args.micro, train_llm=True,
                     zero_stage=2, max_steps=steps, precision="bf16" if cuda else "fp32",
                     gradient_checkpointing=args.checkpointing, checkpoint_every=10**9, warmup_ratio=0.03,
                     fused_loss=not args.plain_loss)
    with tempfile.TemporaryDirectory() as tmp:
        # checkpoint_every is huge, but a stage always checkpoints at its end: measured steps exclude it.
        result = run_stage(plan, model, samples, 0, Path(tmp) / "stage", Path(tmp) / "metrics.jsonl", resume=False)
        rows = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()][args.warmup:]
        engine = result.engine
        kernel = result.loss_kernel
        from harness_plugins.recipes.llava15.metrics import flops_model_of

        flops = flops_model_of(engine.module)
        peak = _peak_gib(cuda)
        engine.destroy()
    del engine, result, model
    tokens = sum(r["tokens"] for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    images = args.micro * len(rows)
    # the fused loss runs the head at the supervised positions only (the text after the image tokens)
    image_tokens = (shape.image_size // shape.patch) ** 2
    head_tokens = None if args.plain_loss else images * (shape.seq - 1 - image_tokens)
    total_flops = flops.step_flops(tokens=tokens, seq_len=shape.seq, images=images, head_tokens=head_tokens)
    return _report(f"recipe (run_stage, loss {kernel.split(':')[0]})", tokens, seconds, total_flops, peak)


def measure_baseline(shape, args, device, dtype, cuda) -> dict:
    """Plain transformers + DeepSpeed: the loop everyone writes first."""
    import deepspeed
    import torch

    from harness_plugins.recipes.llava15.collate import collate
    from harness_plugins.recipes.llava15.metrics import flops_model_of

    _reset(cuda)
    model = build_model(shape, device, dtype)
    for name, p in model.named_parameters():
        p.requires_grad = "vision_tower" not in name
    if args.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-5, weight_decay=0.0, fused=cuda)
    config = {"train_batch_size": args.micro, "train_micro_batch_size_per_gpu": args.micro,
              "gradient_accumulation_steps": 1, "gradient_clipping": 1.0, "bf16": {"enabled": cuda},
              "zero_optimization": {"stage": 2}, "steps_per_print": 10**9}
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, model_parameters=params, config=config)
    batch = collate(synthetic_samples(shape, args.micro), 0)
    batch = {k: v.to(device) for k, v in batch.items()}
    batch["pixel_values"] = batch["pixel_values"].to(dtype)
    tokens = seconds = 0.0
    for step in range(args.warmup + args.steps):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = engine(**batch).loss
        engine.backward(loss)
        engine.step()
        float(loss.detach())  # the recipe reads the loss each step too
        if cuda:
            torch.cuda.synchronize()
        if step >= args.warmup:
            seconds += time.perf_counter() - t0
            tokens += int(batch["attention_mask"].sum())
    flops = flops_model_of(engine.module)
    peak = _peak_gib(cuda)
    engine.destroy()
    del engine, model, optimizer
    images = args.micro * args.steps
    return _report("baseline (transformers + DeepSpeed)", tokens, seconds,
                   flops.step_flops(tokens=tokens, seq_len=shape.seq, images=images), peak)


def _report(name: str, tokens: float, seconds: float, flops: float, peak_gib: float | None) -> dict:
    from harness_plugins.recipes.llava15.metrics import device_peak_flops

    peak = device_peak_flops()
    tflops = flops / seconds / 1e12
    return {"path": name, "tokens_per_s": tokens / seconds, "model_tflops_per_s": tflops,
            "mfu": tflops * 1e12 / peak if peak else None, "peak_memory_gib": peak_gib}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 warmup + 5 measured steps")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shapes on the CPU (fp32)")
    parser.add_argument("--micro", type=int, default=None, help="micro-batch (default 4; smoke 2)")
    parser.add_argument("--checkpointing", action="store_true", help="gradient checkpointing")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--only", choices=["recipe", "baseline"], default=None)
    parser.add_argument("--plain-loss", action="store_true", help="the recipe with recipe.fused_loss=false (full logits)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    import torch

    cuda = torch.cuda.is_available() and not args.cpu_smoke
    if not cuda and not args.cpu_smoke:
        print("no GPU: use --cpu-smoke to check the script on the CPU", file=sys.stderr)
        return 2
    if args.cpu_smoke:
        os.environ["DS_ACCELERATOR"] = "cpu"
        torch.set_num_threads(2)
    shape = SMOKE if args.cpu_smoke else FULL
    args.micro = args.micro or (2 if args.cpu_smoke else 4)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.cpu_smoke else 3)
    args.steps = args.steps or (3 if args.cpu_smoke else 5 if args.quick else 20)
    info = distributed.setup()
    device = info.device
    dtype = torch.bfloat16 if cuda else torch.float32
    name = torch.cuda.get_device_name() if cuda else "cpu"
    print(f"device {name}; shape {shape}; micro-batch {args.micro}; checkpointing {args.checkpointing}; "
          f"recipe loss {'plain' if args.plain_loss else 'fused'}; "
          f"{args.warmup} warmup + {args.steps} measured steps", flush=True)
    rows = []
    if args.only in (None, "recipe"):
        rows.append(measure_recipe(shape, args, device, dtype, cuda))
    if args.only in (None, "baseline"):
        rows.append(measure_baseline(shape, args, device, dtype, cuda))
    print(f"{'path':38s} {'tokens/s':>10s} {'TFLOP/s':>9s} {'MFU':>7s} {'peak GiB':>9s}")
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        mem = f"{r['peak_memory_gib']:.1f}" if r["peak_memory_gib"] is not None else "n/a"
        print(f"{r['path']:38s} {r['tokens_per_s']:>10,.0f} {r['model_tflops_per_s']:>9.3f} {mfu:>7s} {mem:>9s}")
    if args.json:
        args.json.write_text(json.dumps({"device": name, "shape": shape.__dict__, "micro": args.micro,
                                         "checkpointing": args.checkpointing, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
