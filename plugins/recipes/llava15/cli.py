"""``harness train KEY=VALUE...``: train one configuration with the LLaVA-1.5 recipe.

Trains in ``HARNESS_HOME/checkpoints/<training hash>`` (or ``--run-dir``), so ``resume=true`` finds
the interrupted run and a finished one is reused, never retrained or overwritten. ``launcher=torchrun``
or ``launcher=deepspeed`` re-launches this same command under that launcher (``num_gpus`` processes
per node, ``num_nodes`` nodes, ``hostfile`` for DeepSpeed's multi-node launcher).
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
        cmd = [_tool("deepspeed")]
        if cfg.hostfile:
            if not Path(cfg.hostfile).is_file():
                raise HarnessError(f"hostfile {cfg.hostfile} does not exist", "fix hostfile= (lines like 'node1 slots=8')")
            cmd += ["--hostfile", str(cfg.hostfile)]
        if cfg.num_nodes > 1:
            cmd += ["--num_nodes", str(cfg.num_nodes)]
        if cfg.num_gpus:
            cmd += ["--num_gpus", per_node]
        return cmd + [script, *argv]
    raise HarnessError(f"unknown launcher {launcher!r}", "use launcher=none, torchrun or deepspeed")


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
    from harness.plugin_manager import get_plugins

    (resolved,) = resolve_cells(overrides, multirun=False)
    cfg = resolved.config
    ensure_writable_home()
    training_hash = resolved.hashes["training"]
    default_dir = run_dir is None
    target = Path(run_dir).absolute() if run_dir else training_dir(training_hash)
    if default_dir and (done := finished_checkpoint(training_hash)):
        console().print(f"already trained (training hash {training_hash}): {done}")
        return
    from harness_plugins.recipes.llava15.distributed import launched

    if not launched():
        # Before anything heavy is imported or launched: refuse a foreign, finished or unresumed run dir.
        from harness_plugins.recipes.llava15.rundir import check

        check(target, training_hash, bool(cfg.resume))
    if getattr(cfg.launcher, "value", cfg.launcher) != "none" and not launched():
        command = launch_command(cfg, ["train", "--run-dir", str(target), *overrides])
        console().print("launching: " + " ".join(command), style="dim")
        code = subprocess.call(command)
        if code:
            raise HarnessError(f"the launched training exited with code {code}", "see the output above")
        if default_dir:
            import json

            mark_finished(training_hash, Path(json.loads((target / "training.json").read_text())["export"]))
        return
    spec = get_plugins().registry("recipes").entry(cfg.recipe.name).spec
    export = load_ref(spec.implementation)(resolved, target)
    if int(os.environ.get("RANK", "0")) == 0:
        if default_dir:
            mark_finished(training_hash, export)
        console().print(f"[bold green]trained[/] {cfg.backbone.name} + {cfg.vision.name}: {export}")
