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
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from harness.errors import HarnessError
from harness.launchers import hostfile_slots, world_size


def _tool(name: str) -> str:
    """A console script of this environment (beside the running Python), else from PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.is_file() else shutil.which(name)
    if not found:
        raise HarnessError(f"{name} is not installed in this environment", "install it or use another launcher")
    return found


def launch_command(cfg: Any, argv: list[str]) -> list[str]:
    """The launcher command line that runs ``harness <argv>`` in every process."""
    launcher = getattr(cfg.launcher, "value", cfg.launcher)
    script = _tool("harness")
    per_node = str(cfg.num_gpus or 1)
    if launcher == "torchrun":
        cmd = [_tool("torchrun"), "--nproc_per_node", per_node, "--nnodes", str(cfg.num_nodes)]
        if cfg.num_nodes > 1:
            addr, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT", "29500")
            if not addr:
                raise HarnessError("launcher=torchrun with num_nodes > 1 needs MASTER_ADDR (the first node's address)",
                                   "export MASTER_ADDR=<node0> and run the same command on every node, or use launcher=deepspeed hostfile=...")
            cmd += ["--rdzv_backend", "c10d", "--rdzv_endpoint", f"{addr}:{port}"]
        else:
            cmd += ["--standalone"]
        return cmd + [script, *argv]
    if launcher == "deepspeed":
        # --no_local_rank: the harness reads LOCAL_RANK from the environment; its CLI has no --local_rank.
        cmd = [_tool("deepspeed"), "--no_local_rank"]
        if cfg.hostfile:
            hostfile_slots(cfg.hostfile)
            cmd += ["--hostfile", str(cfg.hostfile)]
            if cfg.num_gpus:
                cmd += ["--num_gpus", per_node]
        else:
            cmd += ["--num_gpus", str(world_size(cfg))]  # explicit, so the world size is known beforehand
        if cfg.num_nodes > 1:
            cmd += ["--num_nodes", str(cfg.num_nodes)]
        if os.environ.get("MASTER_PORT"):
            cmd += ["--master_port", os.environ["MASTER_PORT"]]
        return cmd + [script, *argv]
    raise HarnessError(f"unknown launcher {launcher!r}", "use launcher=none, torchrun or deepspeed")


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
    from harness.checkpoints import finished_checkpoint, mark_finished, training_dir
    from harness.cli.config_cmds import resolve_cells
    from harness.cli.output import console
    from harness.lazy import load_ref
    from harness.paths import ensure_writable_home
    from harness.pipeline import preflight
    from harness.plugin_manager import get_plugins
    from harness.quiet import quiet_libraries
    from harness_plugins.recipes.llava15.distributed import launched

    (resolved,) = resolve_cells(overrides, multirun=False)
    cfg = resolved.config
    spec = get_plugins().registry("recipes").entry(cfg.recipe.name).spec
    if not launched():  # launched processes validate in train(), with their WORLD_SIZE
        preflight(resolved)  # weight folders and every setting, before anything is written or launched
    ensure_writable_home()
    training_hash = resolved.hashes["training"]
    default_dir = run_dir is None
    target = Path(run_dir).absolute() if run_dir else training_dir(training_hash)
    if default_dir and (done := finished_checkpoint(training_hash)):
        console().print(f"already trained (training hash {training_hash}): {done}")
        return
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
        code = subprocess.call(command)
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
