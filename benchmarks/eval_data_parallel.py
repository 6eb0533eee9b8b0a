"""One process against two (data-parallel, gloo, torchrun) evaluating the same checkpoint on the CPU.

    python benchmarks/eval_data_parallel.py [--samples 256] [--rounds 2]

The LLaMA-3 and CLIP organisms composed as the recipe composes them (BENCH_CHECKPOINT=<folder> for
another checkpoint, e.g. a trained one), a 256-sample scene-style task, batch 32, no answer cache.
One process runs with all the machine's threads, each of the two with half of them. Prints per row
the wall time of the whole call (for two processes: the launcher, two interpreters, lmms-eval's import
and the model load included), the time evaluate() itself reports (rank 0), and samples/s; each row is
the best of --rounds runs.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace


def organism_checkpoint(out: Path) -> Path:
    from harness.cli.config_cmds import resolve_cells
    from harness_plugins.vlm.build import build_vlm

    (resolved,) = resolve_cells(("backbone=llama3", "vision=clip"), multirun=False)
    built = build_vlm(resolved.config)
    built.model.save_pretrained(out)
    built.processor.save_pretrained(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import torch

    from harness.evaluation.distributed import evaluate_launched
    from harness.evaluation.runner import evaluate
    from harness.evaluation.synthetic import build_task

    cores = os.cpu_count() or 1
    root = Path(tempfile.mkdtemp(prefix="bench-dp-"))
    checkpoint = os.environ.get("BENCH_CHECKPOINT") or organism_checkpoint(root / "ckpt")
    tasks = build_task(root / "tasks", n=args.samples, name="bench_dp", image_size=32, max_new_tokens=8)
    common = dict(checkpoint_dir=checkpoint, tasks=["bench_dp"], include_path=str(tasks), batch_size=32,
                  bootstrap_iters=0, seed=0)
    rows = []
    for label in ("1 process", "2 processes (torchrun, gloo)"):
        best = None
        for r in range(args.rounds):
            out = root / f"{label[0]}-{r}"
            started = time.perf_counter()
            if label.startswith("1"):
                torch.set_num_threads(cores)
                result = evaluate(output_dir=out, **common)
            else:
                os.environ["OMP_NUM_THREADS"] = str(max(1, cores // 2))
                result = evaluate_launched(SimpleNamespace(launcher="torchrun", num_gpus=2, num_nodes=1, hostfile=None),
                                           output_dir=out, **common)
            wall = time.perf_counter() - started
            if best is None or wall < best[0]:
                best = (wall, result.seconds, result.processes)
        rows.append((label, *best))
    print(f"\nEvaluation on the CPU ({cores} cores), {args.samples} samples, batch 32, best of {args.rounds}\n")
    print("| processes | wall s | evaluate() s | samples/s (wall) | samples/s (evaluate) |")
    print("|---|---|---|---|---|")
    for label, wall, inner, processes in rows:
        print(f"| {label} | {wall:.1f} | {inner:.1f} | {args.samples / wall:.1f} | {args.samples / inner:.1f} |")


if __name__ == "__main__":
    main()
