"""Attention kernels on the three real LLaMA attention shapes: forward+backward time, TFLOP/s, peak
memory and max error against SDPA, printed as a table.

Each generation runs at its own context (LLaMA-1 2048, LLaMA-2 4096, LLaMA-3 8192 tokens) with
32 query heads of dim 128 (LLaMA-3: 8 key/value heads, GQA) and the same tokens per batch (16,384:
B=8/4/2), so the rows differ where the generations differ: sequence length and GQA.

    python benchmarks/attention_gpu.py              # GPU: each generation's context, bf16
    python benchmarks/attention_gpu.py --quick      # GPU: S at most 2048, fewer repeats
    python benchmarks/attention_gpu.py --cpu-smoke  # CPU: tiny shapes, checks the script runs

Methods: eager (matmul + softmax, transformers' eager attention), SDPA with torch's own choice
("auto") and pinned to each backend (flash, efficient, cudnn, math), and xformers through the
harness adapter where its kernels load. Each is called through the same transformers attention
signature the models use. What cannot run is listed with the reason instead of a number.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


@dataclass(frozen=True)
class Shape:
    name: str
    q_heads: int
    kv_heads: int
    context: int


SHAPES = (Shape("llama1-7b", 32, 32, 2048), Shape("llama2-7b", 32, 32, 4096), Shape("llama3-8b", 32, 8, 8192))
SMOKE_SHAPES = (Shape("llama1-tiny", 4, 4, 32), Shape("llama2-tiny", 4, 4, 64), Shape("llama3-tiny", 4, 1, 128))
TOKENS = 16384  # per batch, every shape (B = TOKENS // S)


@dataclass
class Row:
    shape: str
    method: str
    batch: int = 0
    seq: int = 0
    ms: float | None = None
    tflops: float | None = None
    peak_gib: float | None = None
    max_err: float | None = None
    note: str = ""


def causal_flops(batch: int, heads: int, seq: int, dim: int) -> float:
    """Forward+backward FLOPs of causal attention (FlashAttention's convention: bwd = 2.5 x fwd)."""
    forward = 4 * batch * heads * seq * seq * dim / 2
    return 3.5 * forward


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    if text and ("No viable backend" in text[0] or "No available kernel" in text[0]):
        return "no kernel of this backend for this input on this device"
    if isinstance(exc, torch.OutOfMemoryError):
        return "out of memory"
    return f"{type(exc).__name__}: {text[0][:120]}" if text else type(exc).__name__


def attention_methods(device: torch.device) -> dict[str, tuple[Callable | None, str]]:
    """name -> (function(module, q, k, v) -> output (B, S, H, D), or None, reason when None)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.models.llama.modeling_llama import eager_attention_forward

    from harness_plugins.attention.backends import xformers_available
    from harness_plugins.attention.xformers_adapter import xformers_attention

    def eager(module, q, k, v):
        seq = q.shape[2]
        mask = torch.full((seq, seq), torch.finfo(q.dtype).min, device=q.device, dtype=q.dtype).triu(1)
        return eager_attention_forward(module, q, k, v, mask[None, None], scaling=q.shape[-1] ** -0.5)[0]

    def sdpa(module, q, k, v):
        return sdpa_attention_forward(module, q, k, v, None, scaling=q.shape[-1] ** -0.5, is_causal=True)[0]

    def pinned(backend):
        def run(module, q, k, v):
            with sdpa_kernel(backend):
                return sdpa(module, q, k, v)
        return run

    # SDPA's own choice runs first: it is the reference the other methods' errors are measured against.
    methods: dict[str, tuple[Callable | None, str]] = {"sdpa (auto)": (sdpa, ""), "eager": (eager, "")}
    for label, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
                           ("cudnn", SDPBackend.CUDNN_ATTENTION), ("math", SDPBackend.MATH)):
        methods[f"sdpa {label}"] = (pinned(backend), "")
    ok, why = xformers_available(device)
    methods["xformers"] = ((lambda m, q, k, v: xformers_attention(m, q, k, v, None, scaling=q.shape[-1] ** -0.5)[0])
                           if ok else None, why)
    return methods


def measure(fn: Callable, shape: Shape, batch: int, seq: int, dim: int, dtype: torch.dtype, device: torch.device,
            repeats: int, reference: torch.Tensor | None) -> tuple[float, float | None, float | None, torch.Tensor]:
    """(ms per forward+backward, peak GiB above the inputs, max |out - reference|, output)."""
    gen = torch.Generator(device=device).manual_seed(0)
    q = torch.randn(batch, shape.q_heads, seq, dim, device=device, dtype=dtype, generator=gen).requires_grad_()
    k = torch.randn(batch, shape.kv_heads, seq, dim, device=device, dtype=dtype, generator=gen).requires_grad_()
    v = torch.randn(batch, shape.kv_heads, seq, dim, device=device, dtype=dtype, generator=gen).requires_grad_()
    module = SimpleNamespace(num_key_value_groups=shape.q_heads // shape.kv_heads, is_causal=True, training=False)
    grad = torch.randn(batch, seq, shape.q_heads, dim, device=device, dtype=dtype, generator=gen)
    cuda = device.type == "cuda"

    def step():
        out = fn(module, q, k, v)
        out.backward(grad)
        q.grad = k.grad = v.grad = None
        return out

    out = step().detach()  # warm-up (kernel selection, autotuning)
    err = None if reference is None else float((out.float() - reference.float()).abs().max())
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if cuda:
        torch.cuda.synchronize(device)
    ms = (time.perf_counter() - start) / repeats * 1e3
    peak = (torch.cuda.max_memory_allocated(device) - base) / 2**30 if cuda else None
    return ms, peak, err, out


def run(args: argparse.Namespace) -> list[Row]:
    device = torch.device("cpu" if args.cpu_smoke else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine, or use --cpu-smoke for a CPU check")
    dtype = torch.float32 if args.cpu_smoke else getattr(torch, args.dtype)
    shapes = SMOKE_SHAPES if args.cpu_smoke else SHAPES
    methods = attention_methods(device)
    rows = []
    for shape in shapes:
        reference = None
        seq = args.seq or (min(shape.context, 2048) if args.quick else shape.context)
        batch = args.batch or max(1, args.tokens // seq)
        for name, (fn, why) in methods.items():
            row = Row(shape.name, name, batch, seq)
            rows.append(row)
            if fn is None:
                row.note = f"skipped: {why}"
                continue
            try:
                ms, peak, err, out = measure(fn, shape, batch, seq, args.head_dim, dtype, device,
                                             args.repeats, reference)
            except Exception as exc:  # no kernel for this input, out of memory, ...: report, go on
                row.note = f"skipped: {first_line(exc)}"
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            if name == "sdpa (auto)":
                reference = out  # errors are measured against SDPA's own choice
                err = 0.0
            row.ms, row.peak_gib, row.max_err = ms, peak, err
            row.tflops = causal_flops(batch, shape.q_heads, seq, args.head_dim) / (ms / 1e3) / 1e12
    return rows


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    device = "cpu" if args.cpu_smoke else torch.cuda.get_device_name()
    print(f"# attention fwd+bwd, causal, head_dim={args.head_dim} "
          f"dtype={'float32' if args.cpu_smoke else args.dtype} on {device}, torch {torch.__version__}, "
          f"{args.repeats} repeats (errors are vs SDPA auto)")
    print(f"{'shape':<12} {'B':>3} {'S':>5} {'method':<15} {'ms':>9} {'TFLOP/s':>9} {'peak GiB':>9} {'max err':>9}  note")
    for r in rows:
        print(f"{r.shape:<12} {r.batch:>3} {r.seq:>5} {r.method:<15} {fmt(r.ms, '.2f'):>9} {fmt(r.tflops, '.3g'):>9} "
              f"{fmt(r.peak_gib, '.2f'):>9} {fmt(r.max_err, '.1e'):>9}  {r.note}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="S at most 2048 and 3 repeats")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shapes on the CPU (checks the script)")
    parser.add_argument("--batch", type=int, default=None, help="default: --tokens // S")
    parser.add_argument("--seq", type=int, default=None, help="default: each generation's context")
    parser.add_argument("--tokens", type=int, default=None, help=f"tokens per batch (default {TOKENS})")
    parser.add_argument("--head-dim", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = parser.parse_args(argv)
    if args.cpu_smoke:
        defaults = dict(tokens=128, head_dim=16, repeats=1)
    elif args.quick:
        defaults = dict(tokens=TOKENS, head_dim=128, repeats=3)
    else:
        defaults = dict(tokens=TOKENS, head_dim=128, repeats=10)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.manual_seed(0)
    print_table(run(args), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
