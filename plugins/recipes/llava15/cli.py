"""``harness train KEY=VALUE...``: train one configuration with the LLaVA-1.5 recipe.

Trains in ``HARNESS_HOME/checkpoints/<training hash>`` (or ``--run-dir``), so ``resume=true`` finds
the interrupted run and a finished one is reused, never retrained or overwritten. ``launcher=torchrun``
or ``launcher=deepspeed`` re-launches this same command under that launcher (``num_gpus`` processes
per node, ``num_nodes`` nodes, ``hostfile`` for DeepSpeed's multi-node launcher; the processes read
``LOCAL_RANK`` from the environment, so DeepSpeed's launcher runs with ``--no_local_rank``). Every
setting is validated for that world size before anything is written or launched, and the end
prints each stage's tokens/s (and model TFLOP/s and MFU on known GPUs).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import click

from harness.errors import HarnessError
from harness.launchers import launch_command


def throughput_lines(run_dir: Path) -> list[str]:
    """One line per trained stage from the run's summary: steps, tokens/s, and model TFLOP/s and MFU on GPUs."""
    from harness_plugins.recipes.llava15.train import read_summaries

    lines = []
    for name, stage in read_summaries(run_dir).items():
        line = f"{name}: {stage.get('steps')} steps, {stage.get('tokens_per_s') or 0:,.0f} tokens/s"
        if stage.get("mfu") is not None:
            line += f", {stage.get('model_tflops_per_s') or 0:,.1f} TFLOP/s, MFU {stage['mfu']:.1%}"
        lines.append(line + f" ({stage.get('world_size', 1)} x {stage.get('device', '?')})")
    return lines


@click.command("train")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Train (or resume) in this folder instead of HARNESS_HOME/checkpoints/<training hash>.")
@click.argument("overrides", nargs=-1)
def train_cmd(overrides: tuple[str, ...], run_dir: str | None) -> None:
    """Train a VLM with the configured recipe: KEY=VALUE overrides, e.g. backbone=llama3 resume=true."""
    from harness.checkpoints import finished_checkpoint, training_dir
    from harness.cli.config_cmds import resolve_cells
    from harness.cli.output import console
    from harness.paths import ensure_writable_home
    from harness.pipeline import preflight
    from harness_plugins.recipes.llava15.distributed import launched

    (resolved,) = resolve_cells(overrides, multirun=False)
    cfg = resolved.config
    if not launched():  # launched processes validate in train(), with their WORLD_SIZE
        preflight(resolved)  # weight folders and every setting, before anything is written or launched
    ensure_writable_home()
    training_hash = resolved.hashes["training"]
    default_dir = run_dir is None
    target = Path(run_dir).absolute() if run_dir else training_dir(training_hash)
    if default_dir and (done := finished_checkpoint(training_hash)):
        console().print(f"already trained (training hash {training_hash}): {done}")
        return
    with _training_lock(cfg, target, training_hash):
        if default_dir and (done := finished_checkpoint(training_hash)):  # by the process this one waited for
            console().print(f"already trained (training hash {training_hash}), by the process this one waited for: {done}")
            return
        _train(resolved, target, overrides, default_dir)


def _training_lock(cfg: Any, target: Path, training_hash: str) -> Any:
    """One process trains a folder at a time (:mod:`harness.locks`); another waits, saying for whom. The
    launcher's processes work under the lock of the ``harness train`` that launched them, except with
    torchrun over several nodes, where each node runs its own command and the global rank 0 holds it."""
    import contextlib

    from harness.cli.output import console
    from harness.locks import exclusive
    from harness_plugins.recipes.llava15.distributed import launched

    multi_node_torchrun = getattr(cfg.launcher, "value", cfg.launcher) == "torchrun" and cfg.num_nodes > 1
    holder = multi_node_torchrun and os.environ.get("RANK") == "0" if launched() else not multi_node_torchrun
    if not holder:
        return contextlib.nullcontext()
    return exclusive(target.with_name(target.name + ".lock"), f"training {training_hash}",
                     on_wait=lambda line: console(stderr=True).print(line, soft_wrap=True, markup=False))


def _train(resolved: Any, target: Path, overrides: tuple[str, ...], default_dir: bool) -> None:
    """Check the folder, then train in it here or under the configured launcher."""
    from harness.checkpoints import mark_finished
    from harness.cli.output import console
    from harness.lazy import load_ref
    from harness.locks import held_env
    from harness.plugin_manager import get_plugins
    from harness.quiet import quiet_libraries
    from harness_plugins.recipes.llava15.distributed import launched

    cfg, training_hash = resolved.config, resolved.hashes["training"]
    spec = get_plugins().registry("recipes").entry(cfg.recipe.name).spec
    if not launched():
        # Before anything heavy is imported or launched: refuse a foreign, finished or unresumed run dir.
        from harness_plugins.recipes.llava15.rundir import check

        check(target, training_hash, bool(cfg.resume))
        if cfg.resume and not target.exists():
            console().print(f"resume=true: nothing to resume for this training config (training hash {training_hash}, "
                            f"no {target}); starting from step 0")
    if getattr(cfg.launcher, "value", cfg.launcher) != "none" and not launched():
        command = launch_command(cfg, ["train", "--run-dir", str(target), *overrides])
        console().print("launching: " + " ".join(command), style="dim")
        code = subprocess.call(command, env=held_env(target.with_name(target.name + ".lock")))
        if code:
            raise HarnessError(f"the launched training exited with code {code}", "see the output above")
        if default_dir:
            import json

            mark_finished(training_hash, Path(json.loads((target / "training.json").read_text())["export"]))
        _print_throughput(target)
        return
    quiet_libraries()
    export = load_ref(spec.implementation)(resolved, target)
    if int(os.environ.get("RANK", "0")) == 0:
        if default_dir:
            mark_finished(training_hash, export)
        if not launched():
            _print_throughput(target)
        console().print(f"[bold green]trained[/] {cfg.backbone.name} + {cfg.vision.name}: {export}")


def _print_throughput(run_dir: Path) -> None:
    from harness.cli.output import console

    for line in throughput_lines(run_dir):
        console().print(line)
