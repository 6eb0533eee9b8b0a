"""``harness leaderboard``: the task x backbone table from the results store."""
from __future__ import annotations

import click

from harness.cli.output import console
from harness.config import parse_overrides
from harness.errors import HarnessError
from harness.leaderboard import FORMATS, build_leaderboard, print_table, render
from harness.paths import store_path
from harness.plugin_manager import get_plugins


def task_filter(overrides: tuple[str, ...]) -> str | None:
    """The canonical task name of a ``task=...`` filter (aliases resolved when registered)."""
    task = None
    for ov in parse_overrides(list(overrides)):
        if ov.key != "task.name":
            raise HarnessError(f"leaderboard takes only task=..., got {ov}", "e.g. harness leaderboard task=vqa")
        task = ov.value
    registry = get_plugins().registry("tasks")
    return registry.get(task).name if task and task in registry else task


@click.command("leaderboard")
@click.argument("overrides", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def leaderboard_cmd(overrides: tuple[str, ...], fmt: str) -> None:
    """Backbone x task table of the latest finished runs (optionally task=NAME)."""
    from harness.store import open_store

    task = task_filter(overrides)
    path = store_path()
    if not path.exists():
        console(stderr=True).print(f"no results yet: {path} does not exist; `harness run` fills it")
        return
    with open_store(path) as store:
        board = build_leaderboard(store, task)
    if board.empty:
        console(stderr=True).print(f"no finished runs{' for ' + task if task else ''} in {path}")
        return
    if fmt == "table":
        print_table(board, console())
    else:
        click.echo(render(board, fmt), nl=False)


COMMANDS = [leaderboard_cmd]
