"""Run one recipe stage on the tiny LLaVA in its own process (for torchrun and kill/resume tests).

usage: run_tiny_stage.py RUN_DIR GLOBAL MICRO ZERO [--resume] [--samples N] [--every K] [--slow S]
       [--stop-after N] [--lora-dropout P] [--offload optimizer] [--report FILE]

--report writes what this process did (rank 0): the checkpoint tag it loaded (DeepSpeed's
``load_checkpoint`` is observed, not replaced), the steps it ran, and whether the optimizer ran offloaded.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).parent))

from tiny import PAD, build_tiny_llava, tiny_samples  # noqa: E402

from harness_plugins.recipes.llava15.stage import StagePlan, run_stage  # noqa: E402


def observe_checkpoint_loads() -> list:
    """Tags DeepSpeed loads in this process (the real load runs)."""
    from deepspeed.runtime.engine import DeepSpeedEngine

    loaded: list = []
    real = DeepSpeedEngine.load_checkpoint

    def load_checkpoint(self, load_dir, tag=None, **kwargs):
        loaded.append(tag)
        return real(self, load_dir, tag=tag, **kwargs)

    DeepSpeedEngine.load_checkpoint = load_checkpoint
    return loaded


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
    parser.add_argument("--stop-after", type=int, default=None)
    parser.add_argument("--lora-dropout", type=float, default=None, help="train the LLM through LoRA with this dropout")
    parser.add_argument("--offload", default="none")
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args()
    loaded = observe_checkpoint_loads()
    samples = tiny_samples(args.samples)
    if args.slow:
        # Slow the data down so a test can kill the process between two checkpoints.
        class Slow(list):
            def __getitem__(self, i):
                time.sleep(args.slow)
                return super().__getitem__(i)
        samples = Slow(samples)
    lora = {"r": 4, "alpha": 8, "dropout": args.lora_dropout} if args.lora_dropout is not None else None
    plan = StagePlan(name="finetune", lr=5e-3, global_batch=args.global_batch, micro_batch=args.micro_batch,
                     train_llm=True, zero_stage=args.zero, checkpoint_every=args.every, seed=3, lora=lora,
                     offload=args.offload, stop_after_step=args.stop_after)
    result = run_stage(plan, build_tiny_llava(), samples, PAD, args.run_dir / "finetune", args.run_dir / "metrics.jsonl",
                       resume=args.resume)
    if args.report and torch.distributed.get_rank() == 0:
        first = result.steps - len(result.losses) + 1
        args.report.write_text(json.dumps({"loaded": loaded, "ran": list(range(first, result.steps + 1)),
                                           "offloaded": bool(result.engine.zero_offload_optimizer()),
                                           "optimizer": type(result.engine.basic_optimizer).__name__}))


if __name__ == "__main__":
    main()
