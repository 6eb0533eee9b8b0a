"""Hidden commands the harness runs in the processes a launcher starts (not for users)."""
from __future__ import annotations

import click


@click.command("eval-worker", hidden=True)
@click.argument("handoff", type=click.Path(exists=True, file_okay=False))
def eval_worker_cmd(handoff: str) -> None:
    """One process of a data-parallel evaluation inside `harness run` (harness.evaluation.distributed)."""
    from pathlib import Path

    from harness.evaluation.distributed import leave_worker, run_worker
    from harness.quiet import quiet_libraries

    quiet_libraries()
    run_worker(Path(handoff))
    leave_worker()


COMMANDS = [eval_worker_cmd]
