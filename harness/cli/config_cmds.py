"""``harness run`` and ``harness config``: resolve key=value overrides into typed run configs."""
from __future__ import annotations

import click
import yaml

from harness.cli.output import console, print_json
from harness.config import ResolvedConfig, expand_multirun, parse_overrides, resolve
from harness.errors import HarnessError
from harness.plugin_manager import get_plugins

LIST_KEYS = {"eval.tasks", "data.perceive_types"}  # comma values build a list for these keys instead of a sweep


def resolve_cells(overrides: tuple[str, ...], multirun: bool) -> list[ResolvedConfig]:
    """Every cell of the run (one, or the sweep's product), all validated before anything is written."""
    parsed = parse_overrides(list(overrides))
    if multirun:
        cells = expand_multirun(parsed, LIST_KEYS)
    else:
        for ov in parsed:
            if "," in ov.value and ov.key not in LIST_KEYS:
                raise HarnessError(f"{ov} has several values", "add -m to sweep over them")
        cells = [parsed]
    plugins = get_plugins()
    return [resolve(cell, plugins) for cell in cells]


@click.command("run")
@click.option("-m", "--multirun", is_flag=True, help="Sweep: comma lists expand into the cartesian product of runs.")
@click.option("--dry-run", is_flag=True, help="Resolve, validate and print the config(s); write nothing.")
@click.argument("overrides", nargs=-1)
def run_cmd(overrides: tuple[str, ...], multirun: bool, dry_run: bool) -> None:
    """Run cells of the study: KEY=VALUE overrides, e.g. task=vqa backbone=llama3."""
    cells = resolve_cells(overrides, multirun)
    if dry_run:
        from harness.pipeline import preflight

        for resolved in cells:  # weight folders and recipe settings too: what a real run would refuse
            found = preflight(resolved)
            console().print(f"[bold]# run {resolved.hashes['run']}[/]")
            click.echo("# weights: " + ", ".join(f"{kind} {folder}" for kind, folder in found.items()))
            click.echo(yaml.safe_dump(resolved.as_dict(), sort_keys=False))
        return
    from harness.pipeline import run_cells

    run_cells(cells)


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.argument("overrides", nargs=-1)
def config_cmd(overrides: tuple[str, ...], as_json: bool) -> None:
    """Show the resolved config and where each value came from."""
    (resolved,) = resolve_cells(overrides, multirun=False)
    flat = resolved.flat()
    if as_json:
        print_json({"config": resolved.as_dict(), "sources": resolved.sources, "hashes": resolved.hashes})
        return
    from rich.table import Table

    table = Table(title="Resolved configuration")
    table.add_column("key", style="bold")
    table.add_column("value")
    table.add_column("from", style="dim")
    for key, value in flat.items():
        source = resolved.sources.get(key, "default")
        style = "cyan" if source == "command line" else ""
        table.add_row(key, f"[{style}]{value}[/]" if style else str(value), source)
    console().print(table)
    console().print("hashes: " + ", ".join(f"{k} {v}" for k, v in resolved.hashes.items()), style="dim")


COMMANDS = [run_cmd, config_cmd]
