"""GPU evaluation throughput: harness_vlm at batch 1/8/32/64 vs lmms-eval's llava_hf (batch 1) on a 1B+
random-init LLaVA (LLaMA-3-shaped 1.5B backbone, CLIP ViT-L/14-336-shaped tower, 576 image tokens).

    python benchmarks/eval_gpu.py                 # on a CUDA machine; target: best batch >= 10x batch 1
    python benchmarks/eval_gpu.py --quick         # GPU: 128 samples, batch 1 and 32
    python benchmarks/eval_gpu.py --cpu-smoke     # tiny sizes on the CPU, checks the script end to end
    python benchmarks/eval_gpu.py --out results.md

Needs `decord` for llava_hf (lmms-eval imports it); without it that row says why it could not run.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

# ~1.5B LLaMA-3-shaped backbone (GQA, LLaMA-3-sized vocabulary) + a CLIP ViT-L/14-336-shaped tower
# (24 layers, 1024 wide, 16 heads, MLP 4096): 576 image tokens per sample.
BIG = dict(hidden=2048, layers=16, heads=32, kv_heads=8, ffn=8192, vision_hidden=1024, vision_layers=24,
           vision_heads=16, vision_ffn=4096, image_size=336, patch=14, extra_vocab=128000)
SMOKE = dict(hidden=32, layers=2, heads=4, kv_heads=2, ffn=64, vision_hidden=32, vision_layers=2, image_size=16, patch=8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny model on the CPU")
    parser.add_argument("--quick", action="store_true", help="128 samples, batch sizes 1 and 32")
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--batch-sizes", default=None, help="comma-separated, e.g. 1,8,32,64")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--skip-llava-hf", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="also write the table (markdown) and JSON here")
    args = parser.parse_args(argv)

    import torch
    from lmms_eval.tasks import TaskManager

    from harness.evaluation import throughput
    from harness.evaluation.synthetic import TinySizes, build_checkpoint, build_task

    smoke = args.cpu_smoke
    if not smoke and not torch.cuda.is_available():
        print("no CUDA device: run with --cpu-smoke for the CPU check", file=sys.stderr)
        return 2
    device, dtype = ("cpu", "float32") if smoke else ("cuda", "bfloat16")
    sizes = TinySizes(**(SMOKE if smoke else BIG))
    samples = args.samples or (16 if smoke else 128 if args.quick else 256)
    default_batches = "1,4,8" if smoke else "1,32" if args.quick else "1,8,32,64"
    batch_sizes = [int(b) for b in (args.batch_sizes or default_batches).split(",")]
    if smoke:
        torch.set_num_threads(2)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        checkpoint = build_checkpoint(root / "ckpt", sizes, dtype="float32" if smoke else "bfloat16")
        tasks = build_task(root / "tasks", n=samples, name="gpu_colour", image_size=sizes.image_size,
                           max_new_tokens=args.max_new_tokens)
        manager = TaskManager("ERROR", include_path=str(tasks), include_defaults=False)
        rows = []
        for batch in batch_sizes:
            rows.append(throughput.harness_vlm(checkpoint, "gpu_colour", str(tasks), samples, batch, device=device,
                                               dtype=dtype, task_manager=manager))
            print(f"harness_vlm batch {batch}: {rows[-1].samples_per_s:.2f} samples/s", flush=True)
            if device == "cuda":
                torch.cuda.empty_cache()
        # The largest batch again with the next batch's images and prompts prepared on a worker thread
        # while the model runs (model_args prefetch=true): what overlapping buys on this device.
        rows.append(throughput.harness_vlm(checkpoint, "gpu_colour", str(tasks), samples, max(batch_sizes),
                                           device=device, dtype=dtype, task_manager=manager, prefetch=True))
        print(f"harness_vlm batch {max(batch_sizes)} + prefetch: {rows[-1].samples_per_s:.2f} samples/s", flush=True)
        if not args.skip_llava_hf:
            rows.append(throughput.llava_hf(checkpoint, "gpu_colour", str(tasks), min(samples, 64), device=device,
                                            dtype=dtype, task_manager=manager))
        params = sum(p.numel() for p in __import__("safetensors.torch", fromlist=["load_file"]).load_file(
            str(next(checkpoint.glob("*.safetensors")))).values()) if smoke else None
    title = (f"Evaluation throughput, {'tiny LLaVA, CPU' if smoke else torch.cuda.get_device_name()} ({dtype}), "
             f"{samples} samples, {args.max_new_tokens} new tokens max, {sizes.image_size // sizes.patch} patches/side")
    text = f"{title}\n\n{throughput.table(rows)}\n"
    print(text)
    if params:
        print(f"parameters: {params}")
    if args.out:
        args.out.write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps([r.__dict__ | {"samples_per_s": r.samples_per_s} for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
