"""Cells of a sweep at once on this machine: ``harness run -m ... sweep.parallel=N``.

Each cell runs as a ``harness run`` of its own (a DeepSpeed training or an evaluation needs a process of
its own), at most N at a time, with this machine's CPU threads and visible GPUs divided between them
(each cell gets the GPUs its launcher uses, ``CUDA_VISIBLE_DEVICES`` naming them, and its own
``MASTER_PORT``). Cells that need the same training share it through its lock (:mod:`harness.locks`):
one trains, the others wait and reuse it. Each cell writes its output to a log under
``$HARNESS_HOME/sweeps/<time>/``; the terminal shows one line per cell as it starts and ends.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

REPORT_RUNS = "HARNESS_REPORT_RUNS"  # a file `harness run` appends the ids of the runs it stored to


@dataclass
class CellOutcome:
    """How one cell of a sweep ended: ``finished`` with its stored runs, or ``failed`` and why."""

    label: str
    state: str
    run_ids: list[str] = field(default_factory=list)
    why: str = ""
    log: Path | None = None
    crashed: bool = False  # failed for another reason than bad input (exit code 1, not 2)


def cell_labels(cells: list[Any]) -> list[str]:
    """A short name per cell: the ``KEY=VALUE`` words in which it differs from the other cells."""
    from harness.pipeline import command_line_words

    words = [command_line_words(c) for c in cells]
    shared = set.intersection(*(set(w) for w in words)) if words else set()
    labels = [" ".join(w for w in ws if w not in shared) for ws in words]
    return [label or f"cell {i + 1}" for i, label in enumerate(labels)]


def cell_words(resolved: Any) -> list[str]:
    """The words that run this one cell again, without the sweep's own settings."""
    from harness.pipeline import command_line_words

    return [w for w in command_line_words(resolved) if not w.startswith(("sweep.", "slurm."))]


def report_run(run_id: str) -> None:
    """Tell the sweep that started this ``harness run`` which run it stored."""
    path = os.environ.get(REPORT_RUNS)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(run_id + "\n")


def check_parallel(cfg: Any) -> int:
    parallel = cfg.sweep.parallel
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise HarnessError(f"sweep.parallel={parallel} must be 1 or more", "e.g. sweep.parallel=2")
    return parallel


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES names them."""
    shown = os.environ.get("CUDA_VISIBLE_DEVICES")
    if shown is not None:
        return [g for g in shown.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


class _GpuPool:
    """GPUs handed to cells as they start and back as they end (a cell waits until enough are free)."""

    def __init__(self, gpus: list[str]):
        self.free, self.cond = list(gpus), threading.Condition()

    def take(self, n: int) -> list[str]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.free) >= n)
            taken, self.free = self.free[:n], self.free[n:]
            return taken

    def give(self, gpus: list[str]) -> None:
        with self.cond:
            self.free.extend(gpus)
            self.cond.notify_all()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _why(log: Path) -> str:
    """The cell's one-line error, else its last line."""
    lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors[-1].removeprefix("error:").strip() if errors else lines[-1] if lines else "no output")[:300]


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask: taskset, a Slurm allocation), not the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # macOS and Windows have no affinity mask


def run_parallel(cells: list[Any], parallel: int, say: Callable[[str], None]) -> list[CellOutcome]:
    """Run ``cells`` (checked already) ``parallel`` at a time; returns how each ended, in order."""
    from harness.launchers import world_size
    from harness.paths import home

    folder = home() / "sweeps" / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder.mkdir(parents=True)
    labels = cell_labels(cells)
    threads = max(1, usable_cores() // parallel)
    all_gpus = visible_gpus()
    gpus = _GpuPool(all_gpus)
    say(f"running {len(cells)} cells, {parallel} at a time ({threads} CPU threads each); logs in {folder}")

    def one(index: int) -> CellOutcome:
        resolved, label = cells[index], labels[index]
        log, reported = folder / f"cell{index + 1}.log", folder / f"cell{index + 1}.runs"
        taken = gpus.take(min(world_size(resolved.config), len(all_gpus))) if all_gpus else []
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MASTER_PORT": str(_free_port()), REPORT_RUNS: str(reported)}
        if all_gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(taken)
        say(f"started  {label}" + (f" on GPU {','.join(taken)}" if taken else "") + f"  (log {log.name})")
        try:
            with log.open("w", encoding="utf-8") as out:
                code = subprocess.call([sys.executable, "-m", "harness.cli.main", "run", *cell_words(resolved)],
                                       stdout=out, stderr=subprocess.STDOUT, env=env)
        finally:
            gpus.give(taken)
        runs = reported.read_text().split() if reported.is_file() else []
        if code == 0:
            say(f"finished {label}: run {', '.join(runs)}")
            return CellOutcome(label, "finished", runs, log=log)
        why = _why(log)
        say(f"failed   {label}: {why}")
        return CellOutcome(label, "failed", runs, why, log, crashed=code != 2)

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, range(len(cells))))
