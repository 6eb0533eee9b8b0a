"""``harness jobs``: the cells ``harness run ... launcher=slurm`` submitted, and the state of each
(queued, running, finished, failed), read from the job folders under ``$HARNESS_HOME/jobs``."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from harness.slurm import JobState


def _local_state(folder: Path, job_id: str) -> JobState | None:
    """A local job's state without its process object: its result file, else whether its pid runs."""
    from harness.slurm import JobState

    if list(folder.glob(f"{job_id}_*_result.pkl")):
        return None  # ended: submitit reads the result
    try:
        os.kill(int(job_id), 0)
    except (ProcessLookupError, ValueError):
        return JobState("failed", "its process is gone and left no result", crashed=True)
    except PermissionError:
        pass
    return JobState("running")


@click.command("jobs")
@click.option("--all", "show_all", is_flag=True, help="Every submission, not only the latest.")
def jobs_cmd(show_all: bool) -> None:
    """Cells submitted with launcher=slurm and their state: queued, running, finished or failed."""
    from rich.table import Table

    from harness.cli.output import console
    from harness.errors import HarnessError
    from harness.paths import home
    from harness.slurm import job_state

    submissions = sorted((home() / "jobs").glob("*/cells.json"))
    if not submissions:
        raise HarnessError(f"no jobs were submitted from {home()}", "harness run -m ... launcher=slurm submits them")
    import submitit

    for path in submissions if show_all else submissions[-1:]:
        doc = json.loads(path.read_text())
        table = Table(title=f"cells submitted {path.parent.name} ({doc['executor']})", title_justify="left")
        table.add_column("cell", overflow="fold")
        table.add_column("job", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("why", overflow="fold")
        for cell in doc["cells"]:
            folder, job_id = Path(cell["folder"]), str(cell["job_id"])
            found = _local_state(folder, job_id) if doc["executor"] == "local" else None
            if found is None:
                job_class = submitit.LocalJob if doc["executor"] == "local" else submitit.SlurmJob
                found = job_state(job_class(folder=folder, job_id=job_id))
            table.add_row(cell["label"], job_id, found.state, found.why)
        console().print(table)


COMMANDS = [jobs_cmd]
