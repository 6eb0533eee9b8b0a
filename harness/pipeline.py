"""What ``harness run`` does with each resolved cell: create its run directory, then train and
evaluate it (filled in as the recipe and evaluation land), then print the leaderboard."""
from __future__ import annotations

from harness.cli.output import console
from harness.config import ResolvedConfig
from harness.runs import create_run_dir


def run_cells(cells: list[ResolvedConfig]) -> None:
    """Run every cell in turn."""
    for resolved in cells:
        run_dir = create_run_dir(resolved)
        cfg = resolved.config
        console().print(
            f"[bold]{cfg.task.name}[/] x [bold]{cfg.backbone.name}[/] ({cfg.backbone.variant}): "
            f"config saved to {run_dir / 'config.yaml'}"
        )
