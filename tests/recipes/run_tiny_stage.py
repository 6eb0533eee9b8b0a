"""Run one recipe stage on the tiny LLaVA in its own process (for torchrun and kill/resume tests).

usage: run_tiny_stage.py RUN_DIR GLOBAL MICRO ZERO [--resume] [--samples N] [--every K] [--slow S]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).parent))

from tiny import PAD, build_tiny_llava, tiny_samples  # noqa: E402

from harness_plugins.recipes.llava15.stage import StagePlan, run_stage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("global_batch", type=int)
    parser.add_argument("micro_batch", type=int)
    parser.add_argument("zero", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--slow", type=float, default=0.0, help="sleep after each step's checkpoint check")
    args = parser.parse_args()
    samples = tiny_samples(args.samples)
    if args.slow:
        # Slow the data down so a test can kill the process between two checkpoints.
        class Slow(list):
            def __getitem__(self, i):
                time.sleep(args.slow)
                return super().__getitem__(i)
        samples = Slow(samples)
    plan = StagePlan(name="finetune", lr=5e-3, global_batch=args.global_batch, micro_batch=args.micro_batch,
                     train_llm=True, zero_stage=args.zero, checkpoint_every=args.every, seed=3)
    run_stage(plan, build_tiny_llava(), samples, PAD, args.run_dir / "finetune", args.run_dir / "metrics.jsonl",
              resume=args.resume)


if __name__ == "__main__":
    main()
