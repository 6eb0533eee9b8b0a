"""The fused loss on the CPU, through ``harness train`` itself: peak memory at LLaMA-3's real vocabulary
with ``recipe.fused_loss`` off (the full logits, transformers' cross-entropy) and on (the recipe's
chunked loss over supervised positions only).

    python benchmarks/fused_loss_cpu.py [--home DIR] [--steps 1]

It builds a real-format LLaMA-3 folder (``benchmarks/real_format_llama3.py``: 128256 tokens in
LLaMA-3's id layout, hidden 64, 2 layers, random weights) and trains it with ``backbone.path=`` (a
custom variant, so the ``full`` recipe profile: micro-batch 16, align 16 and finetune 8 micro-batches
per step) for ``--steps`` optimizer steps per stage, once with each setting. The peak RSS is the
kernel's maximum resident set of the ``harness train`` process (``wait4``). Each run's first loss per
stage is printed: the two settings must agree to float rounding.

Heavy (about 6 minutes on one CPU core; the plain run needs about 11 GiB of RAM): run it alone.
``--home`` (default ``$HARNESS_HOME`` or /tmp/fused-loss-home) holds the scene data, built once
before the measured runs, the real-format folder and one folder per training.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def train(words: list[str], home: Path) -> dict:
    """One ``harness train`` in a fresh run folder: peak RSS (GiB), wall seconds, per-stage summary and losses."""
    run_dir = Path(tempfile.mkdtemp(prefix="fused-loss-", dir=home))
    env = os.environ | {"HARNESS_HOME": str(home), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    log = run_dir.with_suffix(".log")  # beside the run folder: the recipe refuses a folder holding foreign files
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(["harness", "train", "--run-dir", str(run_dir), *words], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"harness train {' '.join(words)} failed:\n{log.read_text()[-3000:]}")
    stages = json.loads((run_dir / "training_summary.json").read_text())["stages"]
    losses: dict[str, list[float]] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        losses.setdefault(row["stage"], []).append(row["loss"])
    return {"peak_gib": usage.ru_maxrss / 2**20, "seconds": seconds, "stages": stages, "losses": losses}


def memory(home: Path, steps: int) -> None:
    """Train the real-format folder with the plain loss, then the fused one; print one line each."""
    from real_format_llama3 import build

    folder = build(home / "llama3-real-format")
    common = ["backbone=llama3", f"backbone.path={folder}", f"recipe.align.max_steps={steps}",
              f"recipe.finetune.max_steps={steps}"]
    print(f"real-format LLaMA-3 (vocabulary 128256, hidden 64, 2 layers) at micro-batch 16, {steps} step(s) per stage")
    print(f"{'recipe.fused_loss':<18} {'peak RSS':>9} {'wall':>7}  {'tokens/s (align, finetune)':<27} "
          f"first loss (align, finetune)  loss kernel")
    for fused in ("false", "true"):
        run = train(common + [f"recipe.fused_loss={fused}"], home)
        first = ", ".join(f"{run['losses'][s][0]:.6f}" for s in ("align", "finetune"))
        speed = ", ".join(f"{run['stages'][s]['tokens_per_s']:,.0f}" for s in ("align", "finetune"))
        print(f"{fused:<18} {run['peak_gib']:>6.2f} GiB {run['seconds']:>6.0f}s  {speed:<27} {first:<28}  "
              f"{run['stages']['finetune'].get('loss_kernel', '-')}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("HARNESS_HOME", "/tmp/fused-loss-home")))
    parser.add_argument("--steps", type=int, default=1, help="optimizer steps per stage")
    args = parser.parse_args()
    home = args.home.absolute()
    home.mkdir(parents=True, exist_ok=True)
    # the scene data first, so no measured run builds it
    subprocess.run(["harness", "data", "build"], env=os.environ | {"HARNESS_HOME": str(home)}, check=True,
                   stdout=subprocess.DEVNULL)
    memory(home, args.steps)


if __name__ == "__main__":
    main()
