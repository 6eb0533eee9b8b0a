"""``evaluate``: one checkpoint on lmms-eval tasks, in-process, through lmms-eval's own evaluator.

Writes lmms-eval's results JSON and samples JSONL (plus the harness's per-sample records and
hidden states) into ``output_dir`` all at once (staged, then renamed), and returns the records the
results store keeps. Bad input fails with a one-line HarnessError before anything is written.

``blind_tasks`` adds the blind baseline: those tasks evaluated again by the same loaded model with
every image blanked (``harness_vlm`` ``blind=true``), written under ``output_dir/blind/`` and returned
as records of the task ``<task>@blind`` (same metric names, same doc ids).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, unknown_name
from harness.evaluation.blind import blind_task
from harness.store.records import MetricRow, SampleRow
from harness.evaluation.checkpoint import resolve_checkpoint
from harness.evaluation.distributed import gather_records, rank_and_world


@dataclass
class EvalResult:
    """What one evaluation produced: store records, the files written, and cache accounting."""

    checkpoint: Path
    output_dir: Path
    metrics: list[MetricRow]
    samples: list[SampleRow]
    results_json: Path
    samples_jsonl: dict[str, Path] = field(default_factory=dict)
    records_jsonl: dict[str, Path] = field(default_factory=dict)
    hidden_states: dict[str, Path] = field(default_factory=dict)
    num_samples: dict[str, int] = field(default_factory=dict)
    computed: int = 0  # requests answered by the model in this call
    cache_hits: int = 0  # requests answered from the per-sample cache
    seconds: float = 0.0
    attention: str | None = None  # the attention kernel chosen, and why
    processes: int = 1  # how many processes evaluated (data-parallel ranks, harness.evaluation.distributed)


# Exceptions (by class name, as they come from datasets, huggingface_hub, requests and tenacity)
# that mean a task's data could not be fetched or found.
UNREACHABLE = {"ConnectionError", "FileNotFoundError", "OfflineModeIsEnabled", "LocalEntryNotFoundError",
               "DatasetNotFoundError", "HFValidationError", "MaxRetryError", "RetryError", "Timeout"}


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        attempt = getattr(exc, "last_attempt", None)  # tenacity's RetryError holds the real error
        inner = attempt.exception() if attempt is not None and hasattr(attempt, "exception") else None
        exc = inner or exc.__cause__ or exc.__context__


def data_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the task's data could not be fetched or found."""
    return any(type(e).__name__ in UNREACHABLE for e in _chain(exc))


def unreachable_reason(exc: BaseException) -> str:
    """The innermost error's first line, without the wrappers' reprs."""
    inner = list(_chain(exc))[-1]
    first = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {first[:160]}" if first else type(inner).__name__


def check_settings(tasks: list[str], batch_size: int, limit: int | None, max_new_tokens: int | None) -> None:
    """One-line errors for settings no evaluation can run with."""
    if not tasks:
        raise HarnessError("no tasks to evaluate", "set eval.tasks (e.g. eval.tasks=vqa_scene)")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise HarnessError(f"eval.limit={limit} must be a whole number of 1 or more", "omit it to evaluate every sample")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise HarnessError(f"eval.batch_size={batch_size} must be 1 or more", "e.g. eval.batch_size=8")
    if max_new_tokens is not None and (not isinstance(max_new_tokens, int) or max_new_tokens < 1):
        raise HarnessError(f"eval.max_new_tokens={max_new_tokens} must be 1 or more", "e.g. eval.max_new_tokens=32")


def check_task_data(task_manager: Any, tasks: list[str], overrides: dict[str, dict], data_hints: dict[str, str]) -> None:
    """Every task is known to lmms-eval and its local data (load_from_disk) is where its YAML says."""
    from lmms_eval.utils import load_yaml_config

    known = set(task_manager.all_tasks)
    for task in tasks:
        if task not in known:
            raise unknown_name("lmms-eval task", task, [t for t in known if not t.startswith("_")])
        entry = task_manager.task_index[task]
        if entry.get("type") != "task" or not str(entry.get("yaml_path", "")).endswith((".yaml", ".yml")):
            continue  # groups, tags and python tasks check their own data
        config = {**load_yaml_config(entry["yaml_path"], mode="simple"), **overrides.get(task, {})}
        kwargs = config.get("dataset_kwargs") or {}
        if kwargs.get("load_from_disk"):
            path = Path(str(config.get("dataset_path", "")))
            if not any((path / marker).is_file() for marker in ("dataset_dict.json", "state.json", "dataset_info.json")):
                hint = data_hints.get(task) or (
                    "build it there (a datasets.DatasetDict saved with save_to_disk) or point the task's "
                    "dataset_path at where it is")
                raise HarnessError(f"task {task} needs its data at {path}, which holds no saved dataset", hint)


def evaluate(checkpoint_dir: Path, tasks: list[str | dict], include_path: str | None, output_dir: Path, batch_size: int = 8,
             limit: int | None = None, max_new_tokens: int | None = None, save_hidden_states: bool = False,
             cache_dir: Path | None = None, task_overrides: dict[str, dict] | None = None,
             primary_metrics: dict[str, str] | None = None, data_hints: dict[str, str] | None = None,
             device: str | None = None, dtype: str = "auto", seed: int = 0, bootstrap_iters: int = 1000,
             verbosity: str = "WARNING", attention: str | None = None,
             blind_tasks: list[str] | None = None) -> EvalResult:
    """Evaluate ``checkpoint_dir`` (a checkpoint or a run directory) on lmms-eval ``tasks``.

    ``tasks`` holds lmms-eval task names or task dicts ``{"task": name, "dataset_path": ...}``
    (as harness_plugins.tasks.lmms.task_entries makes them).

    ``task_overrides`` maps a task to YAML keys to replace (e.g. ``dataset_path``);
    ``primary_metrics`` maps a task to its primary metric (default: the first in its metric_list);
    ``data_hints`` maps a task to the fix shown when its data is missing. ``cache_dir`` holds the
    per-sample response cache (None: no cache). ``output_dir`` must not exist or be empty.
    ``attention`` (``auto`` or a backend name) picks the attention kernel among the registered
    attention plugins; None keeps transformers' default. The choice and its reason are returned.
    ``blind_tasks`` (a subset of ``tasks``) get a second, blind pass (see the module docstring).
    """
    started = time.perf_counter()
    overrides = {k: dict(v) for k, v in (task_overrides or {}).items()}
    names = []
    for entry in tasks:  # names, or lmms-eval task dicts {"task": name, <YAML keys to replace>}
        if isinstance(entry, dict):
            entry = dict(entry)
            name = str(entry.pop("task"))
            overrides[name] = {**entry, **overrides.get(name, {})}
            entry = name
        names.append(entry)
    tasks = names
    check_settings(tasks, batch_size, limit, max_new_tokens)
    blind = [t for t in tasks if t in set(blind_tasks or ())]
    if set(blind_tasks or ()) - set(tasks):
        raise HarnessError(f"blind baseline asked for tasks not evaluated: {sorted(set(blind_tasks or ()) - set(tasks))}",
                           "blind_tasks must be among the evaluated tasks")
    checkpoint = resolve_checkpoint(checkpoint_dir)
    output_dir = Path(output_dir)
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise HarnessError(f"{output_dir} already holds evaluation output", "pass a new or empty output folder")

    from lmms_eval.tasks import TaskManager

    # Indexing lmms-eval's ~1000 built-in task folders takes seconds: do it only when needed.
    task_manager = TaskManager(verbosity, include_path=include_path, include_defaults=False) if include_path else None
    if task_manager is None or not set(tasks) <= set(task_manager.all_tasks):
        task_manager = TaskManager(verbosity, include_path=include_path)
    check_task_data(task_manager, tasks, overrides, data_hints or {})

    from harness.evaluation.model import HarnessVLM, default_device

    choice = None
    if attention is not None:
        from harness.attention import choose_attention

        choice = choose_attention(attention, device or default_device())
    lm = HarnessVLM(run=str(checkpoint), batch_size=batch_size, device=device, dtype=dtype,
                    max_new_tokens=max_new_tokens, hidden_states=save_hidden_states,
                    cache=cache_dir is not None, cache_dir=str(cache_dir) if cache_dir else None,
                    attn_implementation=choice.name if choice else None)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    main = rank_and_world()[0] == 0  # data-parallel: rank 0 writes the output, the others a throwaway folder
    staging = Path(tempfile.mkdtemp(dir=output_dir.parent if main else None, prefix=f".{output_dir.name}.staging-"))
    try:
        lm.keep_loaded = bool(blind)
        result = _run(lm, checkpoint, tasks, task_manager, overrides, staging, output_dir, limit, seed,
                      bootstrap_iters, verbosity, primary_metrics or {})
        if blind:
            lm.keep_loaded = False
            _blind_pass(lm, result, checkpoint, blind, task_manager, overrides, staging, output_dir, limit, seed,
                        bootstrap_iters, verbosity, primary_metrics or {})
        if main:
            if output_dir.exists():
                output_dir.rmdir()
            os.rename(staging, output_dir)
        else:
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result.seconds = time.perf_counter() - started
    if choice is not None:
        result.attention = f"{choice.name} ({choice.reason})"
    return result


def _blind_pass(lm: Any, result: EvalResult, checkpoint: Path, tasks: list[str], task_manager: Any,
                overrides: dict[str, dict], staging: Path, output_dir: Path, limit: int | None, seed: int,
                bootstrap_iters: int, verbosity: str, primary_metrics: dict[str, str]) -> None:
    """The blind baseline: ``tasks`` again, every image blanked, the same model; adds ``<task>@blind`` records."""
    import dataclasses

    hidden_states = lm.save_hidden_states
    # The first pass's records are in ``result`` already; the blind pass keeps no hidden states.
    lm.blind, lm.save_hidden_states, lm.records, lm.hidden, lm.choices, lm.task_dict = True, False, {}, {}, {}, {}
    try:
        blind = _run(lm, checkpoint, tasks, task_manager, overrides, staging / "blind", output_dir / "blind", limit,
                     seed, bootstrap_iters, verbosity, primary_metrics)
    finally:
        lm.blind, lm.save_hidden_states = False, hidden_states
    result.metrics.extend(dataclasses.replace(m, task=blind_task(m.task)) for m in blind.metrics)
    result.samples.extend(dataclasses.replace(s, task=blind_task(s.task)) for s in blind.samples)
    for task in tasks:
        result.num_samples[blind_task(task)] = blind.num_samples.get(task, 0)
        if task in blind.samples_jsonl:
            result.samples_jsonl[blind_task(task)] = blind.samples_jsonl[task]
    result.computed, result.cache_hits = blind.computed, blind.cache_hits  # lm's counters cover both passes


def _run(lm: Any, checkpoint: Path, tasks: list[str], task_manager: Any, overrides: dict[str, dict], staging: Path,
         output_dir: Path, limit: int | None, seed: int, bootstrap_iters: int, verbosity: str,
         primary_metrics: dict[str, str]) -> EvalResult:
    from lmms_eval import evaluator
    from lmms_eval.loggers import EvaluationTracker

    from harness.evaluation.results import fill_mean_stderr, metric_rows, read_samples, sample_rows
    from harness.evaluation.sidecar import hidden_states_path, records_path, write_task_sidecars

    rank, world = rank_and_world()
    requested = [{"task": t, **overrides[t]} if overrides.get(t) else t for t in tasks]
    tracker = EvaluationTracker(output_path=str(staging))
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    try:
        results = evaluator.simple_evaluate(
            model=lm, model_args=f"run={checkpoint}", tasks=requested, limit=limit, log_samples=True,
            evaluation_tracker=tracker, task_manager=task_manager, bootstrap_iters=bootstrap_iters,
            random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed,
            datetime_str=stamp, verbosity=verbosity, process_docs_parallel=1,
            # several ranks: the process group harness.evaluation.distributed set up, not accelerate's
            **({"distributed_executor_backend": "torchrun"} if world > 1 else {}),
        )
    except Exception as exc:
        if not data_unreachable(exc):
            raise
        raise HarnessError(f"lmms-eval could not load the data of {', '.join(tasks)} ({unreachable_reason(exc)})",
                           "with no network, point task.data at a local copy (a datasets folder saved with "
                           "save_to_disk, in the task's schema): harness run task=NAME task.data=/path") from None
    computed, cache_hits = gather_records(lm)  # every rank's records, on rank 0
    if rank != 0:
        return EvalResult(checkpoint=checkpoint, output_dir=output_dir, metrics=[], samples=[],
                          results_json=output_dir, processes=world)
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples, datetime_str=stamp)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])

    out = EvalResult(checkpoint=checkpoint, output_dir=output_dir, metrics=[], samples=[],
                     results_json=output_dir / f"{stamp}_results.json")
    for task in results["configs"]:
        primary = primary_metrics.get(task)
        rows = metric_rows(results, task, primary)
        out.metrics.extend(rows)
        chosen = next((r.metric for r in rows if r.primary), primary)
        split = results["configs"][task].get("test_split")
        docs = lm.task_dict.get(task, {}).get(split) if split else None
        logged = read_samples(staging / f"{stamp}_samples_{task}.jsonl")
        task_samples = sample_rows(task, logged, chosen, lm.records.get(task, {}), lm.choices.get(task, {}), docs)
        fill_mean_stderr(rows, task_samples)
        out.samples.extend(task_samples)
        out.samples_jsonl[task] = output_dir / f"{stamp}_samples_{task}.jsonl"
        out.num_samples[task] = len(logged)
        if task in lm.records:
            write_task_sidecars(staging, task, lm.records[task], lm.hidden.get(task))
            out.records_jsonl[task] = records_path(output_dir, task)
            if lm.hidden.get(task):
                out.hidden_states[task] = hidden_states_path(output_dir, task)
    out.computed, out.cache_hits, out.processes = computed, cache_hits, world
    return out
