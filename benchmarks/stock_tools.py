"""Stock tools against the harness: lmms-eval's built-in ``llava_hf`` (as ``--model llava_hf`` and
with ``--force_simple``) and ``harness_vlm`` on the same items of a task, for each exported checkpoint
given; prints how many answers differ, and which (on stderr).

    python benchmarks/stock_tools.py $HARNESS_HOME/checkpoints/*/model            # 32 vqa_scene items
    python benchmarks/stock_tools.py EXPORT --limit 64 --task vqa_scene --json

The scene data is read from ``$HARNESS_HOME`` (``--home`` for another one; default ./harness_runs).
Needs ``decord`` (``pip install -e .[test]``): lmms-eval's llava_hf imports it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path


def _label(checkpoint: Path) -> str:
    meta = checkpoint / "harness.json"
    if meta.is_file():
        config = json.loads(meta.read_text()).get("config", {})
        backbone = config.get("backbone", {})
        return f"{backbone.get('name', '?')} ({backbone.get('variant') or backbone.get('path')})"
    return checkpoint.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--task", default="vqa_scene")
    parser.add_argument("--limit", type=int, default=32)
    parser.add_argument("--home", type=Path, default=None, help="the HARNESS_HOME holding the scene data")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)

    import torch

    from harness.evaluation.agreement import HARNESS, STOCK, compare_with_llava_hf

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    home = args.home or Path(os.environ.get("HARNESS_HOME", "harness_runs"))
    with contextlib.redirect_stdout(sys.stderr):  # library chatter (DeepSpeed's accelerator line) off stdout
        results = [compare_with_llava_hf(c, args.task, home, args.limit) for c in args.checkpoints]
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
        return 0
    print(f"| export | items | answers differing: {' / '.join(STOCK)} | exact_match: {' / '.join([*STOCK, HARNESS])} |")
    print("|---|---|---|---|")
    for checkpoint, r in zip(args.checkpoints, results):
        differing = " / ".join(str(len(r.differing(s))) for s in STOCK)
        scores = " / ".join(f"{r.scores[m]:.3f}" for m in [*STOCK, HARNESS])
        print(f"| {_label(checkpoint)} | {r.items} | {differing} | {scores} |")
    for checkpoint, r in zip(args.checkpoints, results):
        for stock in STOCK:
            for d in r.differing(stock)[:8]:
                print(f"{_label(checkpoint)} doc {d['doc_id']}: {stock} {d[stock]!r}, {HARNESS} {d[HARNESS]!r} "
                      f"(target {d['target']!r})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
