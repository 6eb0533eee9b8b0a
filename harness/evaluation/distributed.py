"""Data-parallel evaluation: several processes (torchrun, DeepSpeed's launcher, ``accelerate launch``),
each on its own device, share one evaluation.

lmms-eval shards the documents by rank and gathers its own samples and metrics to rank 0; the harness's
per-sample records (answers, confidences, hidden states, multiple-choice scores) are gathered here to
rank 0, which writes them once. Inside ``harness run`` (``launcher=torchrun|deepspeed num_gpus=N``),
:func:`evaluate_launched` starts the launcher on ``harness eval-worker``; each process runs
:func:`harness.evaluation.runner.evaluate` and rank 0 hands the result back through a file.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

SPEC, RESULT, ERROR = "spec.json", "result.json", "error.txt"


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the world size of the initialised process group ((0, 1) without one)."""
    try:
        import torch.distributed as dist
    except ImportError:
        return 0, 1
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_records(lm: Any) -> tuple[int, int]:
    """Every rank's per-sample records, hidden states and multiple-choice scores united on rank 0 (other
    ranks keep their own), and the requests answered by the model and from the cache, summed over the ranks
    (collective: every rank calls it)."""
    rank, world = rank_and_world()
    if world == 1:
        return lm.computed, lm.served_from_cache
    import torch.distributed as dist

    mine = (lm.records, lm.hidden, lm.choices, lm.computed, lm.served_from_cache)
    everyone: list[Any] | None = [None] * world if rank == 0 else None
    dist.gather_object(mine, everyone, dst=0)
    if rank != 0:
        return lm.computed, lm.served_from_cache
    computed = served = 0
    for records, hidden, choices, done, cached in everyone:  # type: ignore[union-attr]
        for ours, theirs in ((lm.records, records), (lm.hidden, hidden), (lm.choices, choices)):
            for task, by_doc in theirs.items():
                ours.setdefault(task, {}).update(by_doc)
        computed, served = computed + done, served + cached
    return computed, served


def _to_json(result: Any) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return json.dumps({f.name: plain(getattr(result, f.name)) for f in dataclasses.fields(result)
                       if f.name not in ("metrics", "samples")}
                      | {"metrics": [dataclasses.asdict(m) for m in result.metrics],
                         "samples": [dataclasses.asdict(s) for s in result.samples]})


def _from_json(text: str) -> Any:
    from harness.evaluation.runner import EvalResult
    from harness.store.records import MetricRow, SampleRow

    doc = json.loads(text)
    paths = {"checkpoint", "output_dir", "results_json"}
    per_task = {"samples_jsonl", "records_jsonl", "hidden_states"}
    known = {f.name for f in dataclasses.fields(EvalResult)}
    fields = {k: (Path(v) if k in paths else {t: Path(p) for t, p in v.items()} if k in per_task else v)
              for k, v in doc.items() if k in known}
    fields["metrics"] = [MetricRow(**m) for m in doc["metrics"]]
    fields["samples"] = [SampleRow(**s) for s in doc["samples"]]
    return EvalResult(**fields)


def evaluate_launched(cfg: Any, checkpoint_dir: Path, **kwargs: Any) -> Any:
    """:func:`harness.evaluation.runner.evaluate` (same arguments) in the processes ``cfg``'s launcher
    starts; the result comes back from rank 0. The handoff folder lies beside ``output_dir`` (the shared home)."""
    from harness.launchers import launch_command

    kwargs["checkpoint_dir"] = checkpoint_dir
    output_dir = Path(kwargs["output_dir"])
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    handoff = Path(tempfile.mkdtemp(dir=output_dir.parent, prefix=".eval-handoff-"))
    try:
        plain = {k: (str(v) if isinstance(v, Path) else v) for k, v in kwargs.items()}
        (handoff / SPEC).write_text(json.dumps({"kwargs": plain}), encoding="utf-8")
        code = subprocess.call(launch_command(cfg, ["eval-worker", str(handoff)]))
        if (handoff / ERROR).is_file():
            raise HarnessError((handoff / ERROR).read_text(encoding="utf-8").strip())
        if code or not (handoff / RESULT).is_file():
            raise HarnessError(f"the launched evaluation exited with code {code}",
                               "see its output above; rerun: answers already computed come from the cache")
        return _from_json((handoff / RESULT).read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(handoff, ignore_errors=True)


def run_worker(handoff: Path) -> None:
    """One process of a launched evaluation (``harness eval-worker``): join the group, evaluate, and on
    rank 0 write the result (or the one-line error) for :func:`evaluate_launched`.

    No rank leaves before rank 0 has written the result (a barrier after it): a rank that finished early
    (its answers all from the cache) and then failed on its way out would otherwise make the launcher stop
    rank 0 before the result exists. A fatal signal prints every thread's Python stack (faulthandler)."""
    import faulthandler

    import torch
    import torch.distributed as dist

    from harness.evaluation.runner import evaluate
    from harness.runs import write_atomically

    faulthandler.enable()
    handoff = Path(handoff)
    kwargs = json.loads((handoff / SPEC).read_text(encoding="utf-8"))["kwargs"]
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        result = evaluate(**kwargs)
        if dist.get_rank() == 0:
            write_atomically(handoff / RESULT, _to_json(result))
        dist.barrier()
    except HarnessError as exc:
        if dist.get_rank() == 0:
            write_atomically(handoff / ERROR, exc.one_line())
        raise
    finally:
        dist.destroy_process_group()


def leave_worker() -> None:
    """End a worker process whose work is written and whose process group is gone, skipping the
    interpreter's teardown: a library's threads dying there (std::terminate, SIGABRT) would turn a finished
    evaluation into a failed launch. Output and logs are flushed first."""
    import logging
    import sys

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
