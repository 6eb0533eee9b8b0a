"""``launcher=slurm``: each cell of ``harness run [-m]`` a Slurm job, submitted through submitit.

A cell's job asks for ``num_nodes`` nodes with ``num_gpus`` GPUs each, ``slurm.time_min`` minutes,
``slurm.partition``, ``slurm.account``, ``slurm.cpus_per_gpu`` and ``slurm.mem_gb``; the settings are
checked against the partition (``sinfo``) before anything is submitted. On its nodes the job runs the
cell's ``harness run`` with torchrun over its GPUs (DeepSpeed's launcher with a hostfile of the job's
nodes when it has several), so results land in the shared home's store and trainings are shared through
their locks (:mod:`harness.locks`). ``harness run`` shows each cell as queued, running, finished or
failed until all have ended (``harness jobs`` shows them later). ``slurm.executor=local`` runs the same
job objects as local processes (submitit's local executor), which is how the harness tests it.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from harness.errors import HarnessError
from harness.sweeps import REPORT_RUNS, CellOutcome, cell_labels, cell_words

POLL_S = float(os.environ.get("HARNESS_SLURM_POLL_S", "10"))
EXITED = "harness run exited with code"  # how a cell's job reports its harness run's exit code and error
QUEUED = {"PENDING", "REQUEUED", "CONFIGURING", "SUSPENDED", "UNKNOWN", "NO PROCESS AND NO RESULT"}


@dataclass(frozen=True)
class PartitionLimits:
    """What a partition offers (from ``sinfo``): nodes, GPUs per node, and its time limit in minutes."""

    nodes: int
    gpus_per_node: int
    time_min: int | None  # None: unlimited


def _minutes(limit: str) -> int | None:
    """Minutes of a Slurm time limit ("infinite", "30", "1:00:00", "2-00:00:00")."""
    if limit in ("infinite", "UNLIMITED", "n/a", ""):
        return None
    days, _, rest = limit.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    hours, minutes, seconds = ([0] * (3 - len(parts)) + parts) if len(parts) > 1 else (0, parts[0], 0)
    return (int(days) if days else 0) * 1440 + hours * 60 + minutes + (1 if seconds else 0)


def parse_sinfo(text: str) -> PartitionLimits:
    """``sinfo -h -p P -o '%D|%G|%l'`` output (one line per node group) -> the partition's limits."""
    nodes, gpus, limit = 0, 0, None
    for line in text.strip().splitlines():
        count, gres, time_limit = (line.split("|") + ["", ""])[:3]
        nodes += int(count)
        for item in gres.split(","):  # gpu:8, gpu:h100:8, gpu:h100:8(S:0-1)
            fields = item.split("(")[0].split(":")
            if fields[0] == "gpu" and fields[-1].isdigit():
                gpus = max(gpus, int(fields[-1]))
        limit = _minutes(time_limit.strip())
    return PartitionLimits(nodes, gpus, limit)


def check_settings(cfg: Any, sinfo: Callable[[str | None], str] | None = None) -> None:
    """One-line errors for job settings no job can run with, or that the partition cannot satisfy."""
    s = cfg.slurm
    if s.executor not in ("slurm", "local"):
        raise HarnessError(f"slurm.executor={s.executor} is not an executor", "use slurm, or local to run the jobs here")
    for key, value in (("slurm.time_min", s.time_min), ("slurm.cpus_per_gpu", s.cpus_per_gpu), ("num_nodes", cfg.num_nodes)):
        if value < 1:
            raise HarnessError(f"{key}={value} must be 1 or more", f"set {key} to a positive number")
    if s.mem_gb is not None and s.mem_gb < 1:
        raise HarnessError(f"slurm.mem_gb={s.mem_gb} must be 1 or more", "or null for the partition's default")
    if s.executor == "local":
        if cfg.num_nodes > 1:
            raise HarnessError("slurm.executor=local runs jobs on this machine only", "set num_nodes=1, or submit to Slurm")
        return
    if sinfo is None and shutil.which("sbatch") is None:
        raise HarnessError("launcher=slurm needs Slurm's sbatch, which is not on PATH",
                           "run on a Slurm login node, or slurm.executor=local to run the jobs here")
    limits = parse_sinfo((sinfo or _sinfo)(s.partition))
    where = f"partition {s.partition}" if s.partition else "the default partition"
    if limits.nodes == 0:
        raise HarnessError(f"Slurm knows no {where}", "set slurm.partition to one `sinfo` lists")
    if cfg.num_nodes > limits.nodes:
        raise HarnessError(f"num_nodes={cfg.num_nodes} but {where} has {limits.nodes} node(s)", "lower num_nodes")
    if (cfg.num_gpus or 0) > limits.gpus_per_node:
        raise HarnessError(f"num_gpus={cfg.num_gpus} per node but {where} has {limits.gpus_per_node} GPU(s) per node",
                           f"use num_gpus={limits.gpus_per_node} or fewer, or another slurm.partition")
    if limits.time_min is not None and s.time_min > limits.time_min:
        raise HarnessError(f"slurm.time_min={s.time_min} but {where} allows {limits.time_min} minutes",
                           f"use slurm.time_min={limits.time_min} or less, or another partition")


def _sinfo(partition: str | None) -> str:
    command = ["sinfo", "-h", "-o", "%D|%G|%l"] + (["-p", partition] if partition else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise HarnessError(f"sinfo failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}", "check slurm.partition")
    return done.stdout


class CellJob:
    """What a cell's job runs on its nodes (pickled by submitit): the cell's ``harness run``, with torchrun
    over the job's GPUs or, on several nodes, DeepSpeed's launcher over a hostfile of them."""

    def __init__(self, words: list[str], home: str, num_gpus: int, num_nodes: int) -> None:
        self.words, self.home, self.num_gpus, self.num_nodes = words, home, num_gpus, num_nodes

    def launcher_words(self) -> list[str]:
        import submitit

        if self.num_nodes > 1:
            env = submitit.JobEnvironment()
            hostfile = Path(self.home) / "jobs" / f"hosts-{env.job_id}"
            hostfile.write_text("".join(f"{h} slots={self.num_gpus or 1}\n" for h in env.hostnames))
            return ["launcher=deepspeed", f"hostfile={hostfile}", f"num_nodes={self.num_nodes}", f"num_gpus={self.num_gpus or 1}"]
        if self.num_gpus > 1:
            return ["launcher=torchrun", f"num_gpus={self.num_gpus}"]
        return []  # one process, the default launcher

    def __call__(self) -> list[str]:
        import tempfile

        import submitit

        from harness.cli.main import main

        if self.num_nodes > 1 and submitit.JobEnvironment().global_rank != 0:
            return []  # DeepSpeed's launcher, started on the first node, reaches the others
        os.environ["HARNESS_HOME"] = self.home
        errors = _ErrorLines(sys.stderr)
        with tempfile.NamedTemporaryFile("r", suffix=".runs") as reported, contextlib.redirect_stderr(errors):
            os.environ[REPORT_RUNS] = reported.name
            kept = [w for w in self.words if not w.startswith(("launcher=", "num_gpus=", "num_nodes=", "hostfile="))]
            code = main(["run", *kept, *self.launcher_words()])
            runs = Path(reported.name).read_text().split()
        if code:
            raise RuntimeError(f"{EXITED} {code}: {errors.last or 'see the job log'}")
        return runs


class _ErrorLines(io.TextIOBase):
    """stderr passed through, keeping the last ``error: ...`` line (the cell's reason to fail)."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.last = stream, ""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith("error: "):
                self.last = line.removeprefix("error: ")
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def _executor(cfg: Any, folder: Path) -> Any:
    import submitit

    s, gpus = cfg.slurm, cfg.num_gpus or 0
    executor = submitit.AutoExecutor(folder=str(folder), cluster="local" if s.executor == "local" else "slurm")
    params: dict[str, Any] = {"timeout_min": s.time_min, "gpus_per_node": gpus, "tasks_per_node": 1,
                              "cpus_per_task": s.cpus_per_gpu * max(1, gpus)}
    if s.executor == "slurm":
        params["nodes"] = cfg.num_nodes
        params.update({f"slurm_{k}": v for k, v in (("partition", s.partition), ("account", s.account)) if v})
        if s.mem_gb:
            params["mem_gb"] = s.mem_gb
    executor.update_parameters(**params)
    return executor


class JobState(NamedTuple):
    """A cell's job: queued, running, finished or failed; why it failed, and whether it crashed (a failure
    that is not bad input: a bug, out of memory, killed by Slurm)."""

    state: str
    why: str = ""
    crashed: bool = False


def failure(text: str) -> JobState:
    """A failed job from submitit's error text: the cell's own one-line error and exit code where the
    cell's ``harness run`` ended with one, else the first lines of what submitit says (timed out, killed)."""
    found = re.findall(rf"{EXITED} (\d+): (.*)", text)
    if found:
        code, why = found[-1]
        return JobState("failed", why.strip()[:300], crashed=code != "2")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("---")]
    return JobState("failed", " ".join(lines[:2])[:300] or "the job failed", crashed=True)


def job_state(job: Any) -> JobState:
    """The state of a submitit job (the cell's runs come from ``job.result()`` once finished)."""
    if not job.done():
        return JobState("queued" if job.state.upper() in QUEUED else "running")
    try:
        job.result()
    except Exception as exc:  # submitit's FailedJobError (or UncompletedJobError) holds the job's traceback
        return failure(str(exc))
    return JobState("finished")


def submit_cells(cells: list[Any], say: Callable[[str], None]) -> list[CellOutcome]:
    """Submit every cell as a job, then show each as it changes state until all have ended."""
    from harness.paths import home

    folder = home() / "jobs" / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder.mkdir(parents=True)
    labels = cell_labels(cells)
    executor = _executor(cells[0].config, folder)
    jobs = [executor.submit(CellJob(cell_words(c), str(home()), c.config.num_gpus or 0, c.config.num_nodes)) for c in cells]
    (folder / "cells.json").write_text(json.dumps(
        {"executor": cells[0].config.slurm.executor,
         "cells": [{"label": label, "job_id": job.job_id, "folder": str(job.paths.folder)} for label, job in zip(labels, jobs)]},
        indent=2))
    say(f"submitted {len(jobs)} job(s) ({cells[0].config.slurm.executor}); job files in {folder}")
    shown: dict[int, str] = {}
    outcomes: dict[int, CellOutcome] = {}
    while len(outcomes) < len(jobs):
        for i, job in enumerate(jobs):
            if i in outcomes:
                continue
            now = job_state(job)
            if shown.get(i) != now.state:
                say(f"{now.state:<8} {labels[i]}  (job {job.job_id})" + (f": {now.why}" if now.why else ""))
                shown[i] = now.state
            if now.state in ("finished", "failed"):
                runs = job.result() if now.state == "finished" else []
                outcomes[i] = CellOutcome(labels[i], now.state, list(runs), now.why, Path(job.paths.stdout), now.crashed)
        if len(outcomes) < len(jobs):
            time.sleep(POLL_S)
    return [outcomes[i] for i in range(len(jobs))]
