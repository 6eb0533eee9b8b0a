"""What ``harness run`` does with each resolved cell.

resolve (done by the caller) -> prepare the tasks' data -> find the trained checkpoint for the
training hash, or train it with the recipe plugin -> evaluate through lmms-eval -> store metrics
and per-sample rows in one transaction -> print the leaderboard with this run highlighted.
"""
from __future__ import annotations

import dataclasses
import functools
import shutil
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.checkpoints import evaluation_lock, finished_checkpoint, mark_finished, training_dir, training_lock
from harness.cli.output import console
from harness.config import ResolvedConfig
from harness.errors import HarnessError
from harness.launchers import check_visible_devices, world_size
from harness.lazy import load_ref
from harness.locks import Owner, exclusive, held_env
from harness.paths import ensure_writable_home, store_path
from harness.plugin_manager import first_line, get_plugins
from harness.runs import create_run_dir, discard_run_dir, orphaned_run_dirs, release_run_dir
from harness.specs import TaskSpec
from harness.store import ResultsStore, RunRecord, open_store
from harness.sweeps import report_run

VERSIONED = ("harness", "torch", "transformers", "deepspeed", "lmms_eval", "datasets", "peft")


def versions() -> dict[str, str]:
    """Versions of the libraries that shape a result, and what computed it (:mod:`harness.compute`), stored
    with every run."""
    from harness.compute import compute_provenance

    found = {"compute": compute_provenance()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            continue
    return found


def task_specs(resolved: ResolvedConfig) -> list[TaskSpec]:
    """The run's task and any extra ``eval.tasks``, canonical and without repeats."""
    registry = get_plugins().registry("tasks")
    specs: list[TaskSpec] = []
    for name in [resolved.config.task.name, *resolved.config.eval.tasks]:
        spec = registry.get(name)
        if spec.name not in {s.name for s in specs}:
            specs.append(spec)
    return specs


def prepare_tasks(resolved: ResolvedConfig, specs: list[TaskSpec]) -> dict[str, dict]:
    """Make each task's data ready; the YAML overrides per lmms-eval task."""
    overrides: dict[str, dict] = {}
    for spec in specs:
        if spec.prepare:
            overrides.update(load_ref(spec.prepare)(resolved.config))
    return overrides


def weight_folders(resolved: ResolvedConfig) -> dict[str, Path]:
    """The folders the backbone and vision plugins would load (checked: model folder, weights, the
    generation's architecture); a one-line error otherwise. Loads no weights."""
    plugins, cfg = get_plugins(), resolved.config
    folders = {}
    for kind, registry, section in (("backbone", "backbones", cfg.backbone), ("vision", "vision", cfg.vision)):
        spec = plugins.registry(registry).entry(section.name).spec
        folders[kind] = load_ref(spec.implementation)(spec.model_card).weights_dir(section.variant, section.path)
    return folders


def preflight(resolved: ResolvedConfig) -> dict[str, Path]:
    """Everything about a cell that can be checked without loading a model, before anything is written:
    the weight folders, and the recipe's own settings (batch arithmetic, DeepSpeed JSON) for the world
    size its launcher starts. Returns the weight folders."""
    folders = weight_folders(resolved)
    check_visible_devices(resolved.config)
    recipe = get_plugins().registry("recipes").get(resolved.config.recipe.name)
    if recipe.validate:
        load_ref(recipe.validate)(resolved.config, world_size(resolved.config))
    return folders


def ensure_checkpoint(resolved: ResolvedConfig) -> tuple[Path, float]:
    """The trained checkpoint for this training hash: reused when finished, else trained (or
    resumed from its last DeepSpeed checkpoint). Returns it and the seconds spent training.

    One process trains a training hash at a time (its lock, :mod:`harness.locks`): another that needs
    it waits, then reuses the finished checkpoint, or takes the training over if its owner died."""
    training_hash = resolved.hashes["training"]
    found = finished_checkpoint(training_hash)
    if found is not None:
        console().print(f"reusing the checkpoint trained for this training config: {found}", soft_wrap=True)
        return found, 0.0
    with exclusive(training_lock(training_hash), f"training {training_hash}", on_wait=_say) as dead:
        found = finished_checkpoint(training_hash)
        if found is not None:
            console().print(f"reusing the checkpoint trained for this training config: {found}", soft_wrap=True)
            return found, 0.0
        return _train_owned(resolved, dead)


def _say(line: str) -> None:
    console(stderr=True).print(line, soft_wrap=True, markup=False)


def _tell(line: str) -> None:
    console().print(line, soft_wrap=True, markup=False, highlight=False)


def _train_owned(resolved: ResolvedConfig, dead: Owner | None) -> tuple[Path, float]:
    """Train under the training's lock; a half-finished training of the same hash (a dead owner's, or an
    interrupted one) is resumed, never restarted."""
    training_hash = resolved.hashes["training"]
    workdir = training_dir(training_hash)
    resume = workdir.exists()
    if dead is not None and resume:
        _say(f"taking over training {training_hash} from {dead.describe()}, which is gone; resuming from its last checkpoint")
    if getattr(resolved.config.launcher, "value", resolved.config.launcher) != "none":
        return _train_launched(resolved, resume)
    recipe = get_plugins().registry("recipes").get(resolved.config.recipe.name)
    train = load_ref(recipe.implementation)
    resuming = dataclasses.replace(resolved, config=dataclasses.replace(resolved.config, resume=resume))
    started = time.perf_counter()
    checkpoint = Path(train(resuming, workdir))
    mark_finished(training_hash, checkpoint)
    return checkpoint, time.perf_counter() - started


def command_line_words(resolved: ResolvedConfig) -> list[str]:
    """The ``KEY=VALUE`` words that resolve to this config again (the values the command line set)."""
    flat = resolved.flat()
    words = []
    for key, source in resolved.sources.items():
        if source != "command line" or key not in flat:
            continue
        value = flat[key]
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif value is None:
            value = "null"
        elif isinstance(value, bool):
            value = str(value).lower()
        words.append(f"{key}={value}")
    return words


def _train_launched(resolved: ResolvedConfig, resume: bool) -> tuple[Path, float]:
    """Multi-process training (``launcher=torchrun|deepspeed``): ``harness train`` with the same
    config, which re-launches itself under the launcher and marks the checkpoint finished."""
    import subprocess
    import sys

    words = [w for w in command_line_words(resolved) if not w.startswith("resume=")]
    command = [sys.executable, "-m", "harness.cli.main", "train", *words, f"resume={str(resume).lower()}"]
    started = time.perf_counter()
    code = subprocess.call(command, env=held_env(training_lock(resolved.hashes["training"])))
    found = finished_checkpoint(resolved.hashes["training"])
    if code or found is None:
        raise HarnessError(f"the launched training exited with code {code}",
                           "see its output above; rerun to resume from its last checkpoint")
    return found, time.perf_counter() - started


def evaluator(cfg: Any) -> Callable[..., Any]:
    """``evaluate`` in this process, or, with a launcher of several processes, in those processes
    (data-parallel, each on its own device; :mod:`harness.evaluation.distributed`)."""
    if getattr(cfg.launcher, "value", cfg.launcher) == "none" or world_size(cfg) == 1:
        from harness.evaluation.runner import evaluate

        return evaluate
    from harness.evaluation.distributed import evaluate_launched

    return functools.partial(evaluate_launched, cfg)


def training_stages(checkpoint: Path) -> dict[str, dict]:
    """The per-stage records of the recipe's ``training_summary.json`` beside ``checkpoint``; empty for a
    checkpoint trained elsewhere (a path given as ``recipe.init_from`` or a real model without one)."""
    import json

    try:
        stages = json.loads((checkpoint.parent / "training_summary.json").read_text()).get("stages", {})
    except (OSError, ValueError):
        return {}
    return stages if isinstance(stages, dict) else {}


def training_compute(stages: dict[str, dict]) -> dict[str, str]:
    """What computed a checkpoint's training (``train_compute``) from its ``training_stages``: the stages'
    ``compute`` lines, each once, in stage order. A run stores its evaluator's ``compute`` in ``versions``;
    this one says where its weights came from, which differs when a shared home's checkpoint was trained on
    another machine."""
    lines = [stage.get("compute") for stage in stages.values()]
    distinct = list(dict.fromkeys(line for line in lines if isinstance(line, str) and line))
    return {"train_compute": "; ".join(distinct)} if distinct else {}


def training_throughput(stages: dict[str, dict]) -> dict[str, float]:
    """Tokens/s (and MFU on GPUs) of each training stage, and how many of its samples ``recipe.max_length``
    cut, from a checkpoint's ``training_stages``."""
    found = {}
    for name, stage in stages.items():
        for key in ("tokens_per_s", "mfu"):
            if isinstance(stage.get(key), (int, float)):
                found[f"{name}_{key}"] = round(float(stage[key]), 4)
        if isinstance(stage.get("world_size"), int):
            found["train_processes"] = stage["world_size"]
        cut = stage.get("truncation") or {}
        if isinstance(cut.get("truncated"), int) and isinstance(cut.get("samples"), int):
            found[f"{name}_truncated_samples"], found[f"{name}_samples"] = cut["truncated"], cut["samples"]
    return found


def run_cell(resolved: ResolvedConfig, store: ResultsStore) -> str:
    """Train (or reuse), evaluate and store one cell; returns its run id. A cell that fails leaves
    no run directory and nothing in the store (a trained checkpoint is kept for the next try)."""
    cfg = resolved.config
    specs = task_specs(resolved)
    overrides = prepare_tasks(resolved, specs)
    run_dir = create_run_dir(resolved)
    console().print(f"[bold]{cfg.task.name} x {cfg.backbone.name} ({cfg.backbone.variant})[/]  run {run_dir.name}")
    run_hash = resolved.hashes["run"]
    try:
        # One process at a time trains and evaluates a config: another with the same config waits, then
        # reuses the checkpoint and the cached answers. Other configs of one training wait only for the
        # training (its own lock), then evaluate beside each other.
        with exclusive(evaluation_lock(run_hash), f"training and evaluating config {run_hash}", on_wait=_say):
            _train_evaluate_store(resolved, store, specs, overrides, run_dir)
    except BaseException:
        discard_run_dir(run_dir)
        raise
    return run_dir.name


def _train_evaluate_store(resolved: ResolvedConfig, store: ResultsStore, specs: list[TaskSpec],
                          overrides: dict[str, dict], run_dir: Path) -> None:
    from harness.evaluation.blind import blind_task

    cfg = resolved.config
    checkpoint, train_seconds = ensure_checkpoint(resolved)
    stages = training_stages(checkpoint)
    lmms_to_harness = {lmms: spec.name for spec in specs for lmms in spec.lmms_tasks}
    blind = list(specs[0].lmms_tasks) if cfg.eval.blind else []  # the blind baseline of the run's own task
    stored_as = {**lmms_to_harness, **{blind_task(lmms): blind_task(specs[0].name) for lmms in blind}}
    include_paths = sorted({spec.include_path for spec in specs if spec.include_path})
    result = evaluator(cfg)(
        checkpoint, tasks=list(lmms_to_harness), include_path=include_paths[0] if len(include_paths) == 1 else (include_paths or None),
        output_dir=run_dir / "eval", batch_size=cfg.eval.batch_size, limit=cfg.eval.limit,
        max_new_tokens=cfg.eval.max_new_tokens, save_hidden_states=cfg.eval.save_hidden_states,
        cache_dir=store_path().parent / "cache" / "eval", task_overrides=overrides, seed=cfg.seed,
        primary_metrics={lmms: spec.primary_metric for spec in specs for lmms in spec.lmms_tasks},
        attention=cfg.attention, blind_tasks=blind,
    )
    metrics = [dataclasses.replace(m, task=stored_as.get(m.task, m.task)) for m in result.metrics]
    samples = [dataclasses.replace(s, task=stored_as.get(s.task, s.task)) for s in result.samples]
    store.add_run(
        RunRecord(
            run_id=run_dir.name, task=cfg.task.name, backbone=cfg.backbone.name, variant=cfg.backbone.variant,
            vision=f"{cfg.vision.name} ({cfg.vision.variant})", recipe=cfg.recipe.name, config=resolved.as_dict(),
            run_hash=resolved.hashes["run"], training_hash=resolved.hashes["training"],
            controlled_hash=resolved.hashes["controlled"], run_dir=str(run_dir),
            versions={**versions(), **training_compute(stages),
                      **({"attention": result.attention} if result.attention else {})},
            timings={"train_s": round(train_seconds, 2), "eval_s": round(result.seconds, 2),
                     "eval_processes": result.processes, **training_throughput(stages)},
        ),
        metrics, samples,
    )
    release_run_dir(run_dir)
    reused = f", {result.cache_hits} answers from the per-sample cache" if result.cache_hits else ""
    console().print(f"evaluated {sum(result.num_samples.values())} samples in {result.seconds:.1f}s{reused}")


def _elsewhere(cells: list[ResolvedConfig]) -> Callable[..., Any] | None:
    """How cells run when not one after another in this process: ``launcher=slurm`` (each a Slurm job,
    :mod:`harness.slurm`) or ``sweep.parallel`` > 1 (several processes here, :mod:`harness.sweeps`)."""
    from harness import slurm, sweeps

    cfg = cells[0].config
    parallel = sweeps.check_parallel(cfg)
    if getattr(cfg.launcher, "value", cfg.launcher) == "slurm":
        slurm.check_settings(cfg)
        return slurm.submit_cells
    if parallel > 1 and len(cells) > 1:
        return functools.partial(sweeps.run_parallel, parallel=min(parallel, len(cells)))
    return None


def run_cells(cells: list[ResolvedConfig]) -> None:
    """Run every cell in turn; in a sweep a failed cell (bad weights or settings included: nothing of it
    is written) is reported and the others still run. A single cell with bad input writes nothing at all."""
    from rich.markup import escape

    from harness.leaderboard import build_leaderboard, print_table
    from harness.quiet import quiet_libraries
    from harness.run_report import print_run_report

    if len(cells) == 1:
        preflight(cells[0])  # before the home and the store are created
    elsewhere = _elsewhere(cells)  # in parallel processes or Slurm jobs (settings checked before anything is written)
    ensure_writable_home()
    quiet_libraries()
    failures: list[str] = []
    crashed = False  # a failure that is not bad input (out of memory, a bug): exit code 1, not 2
    made: list[str] = []  # run ids this command stored, marked on the leaderboard
    with open_store(store_path()) as store:  # opened first: an unreadable store fails before any work
        for orphan in orphaned_run_dirs(lambda run_id: store.run(run_id) is not None):
            shutil.rmtree(orphan, ignore_errors=True)
            console(stderr=True).print(f"removed {orphan.name}: left by a killed run", soft_wrap=True, markup=False)
        ready = []
        for resolved in cells:
            try:
                if len(cells) > 1:
                    preflight(resolved)
                if elsewhere:
                    ready.append(resolved)
                else:
                    made.append(run_cell(resolved, store))
                    report_run(made[-1])
            except Exception as exc:  # in a sweep every failure is reported and the other cells still run
                if len(cells) == 1:
                    raise
                crashed = crashed or not isinstance(exc, HarnessError)
                why = exc.one_line() if isinstance(exc, HarnessError) else first_line(exc)
                cfg = resolved.config
                failures.append(f"{cfg.task.name} x {cfg.backbone.name}: {why}")
                console(stderr=True).print(f"[red]cell failed:[/] {escape(failures[-1])}", soft_wrap=True)
        for outcome in elsewhere(ready, say=_tell) if elsewhere and ready else []:
            made.extend(outcome.run_ids)
            if outcome.state == "failed":
                crashed = crashed or outcome.crashed
                failures.append(f"{outcome.label}: {outcome.why}")
        tasks = sorted({r.config.task.name for r in cells})
        for task in tasks:
            board = build_leaderboard(store, task, highlight=made)
            if not board.empty:
                print_table(board, console())
        if made and len(cells) == 1:
            print_run_report(store, made[-1], console())
        elif len(cells) > 1:
            console().print(f"why the rows differ: harness compare task={tasks[0]}")
    if failures:
        error = HarnessError(f"{len(failures)} of {len(cells)} cells failed ({'; '.join(failures)})",
                             "fix them and rerun; finished cells reuse their checkpoints"
                             + ("; rerun a crashed cell alone with --debug for its traceback" if crashed else ""))
        if crashed:
            error.exit_code = 1
        raise error
