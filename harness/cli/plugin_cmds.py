"""``harness plugins``, ``harness list``, ``harness install`` and ``harness uninstall``."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import click

from harness.cli.output import console, print_json
from harness.errors import HarnessError
from harness.model_cards import load_card
from harness.plugin_manager import get_plugins, reset_plugins
from harness.specs import KINDS


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_cmd(as_json: bool) -> None:
    """Installed plugins: name, distribution, version, hooks, load errors."""
    plugins = get_plugins()
    if as_json:
        print_json({
            "plugins": [dataclasses.asdict(p) for p in plugins.plugins],
            "errors": [dataclasses.asdict(e) for e in plugins.errors],
        })
        return
    from rich.table import Table

    table = Table(title="Plugins")
    for column in ("name", "distribution", "version", "hooks"):
        table.add_column(column)
    for p in plugins.plugins:
        table.add_row(p.name, p.dist + (" (built-in)" if p.builtin else ""), p.version,
                      ", ".join(h.removeprefix("register_") for h in p.hooks))
    console().print(table)
    for e in plugins.errors:
        console().print(f"[red]failed:[/] {e.one_line()}", highlight=False, soft_wrap=True)


def _describe(kind: str, spec: Any) -> dict[str, Any]:
    """The columns `harness list` shows for one descriptor."""
    row: dict[str, Any] = {"aliases": ", ".join(spec.aliases), "description": spec.description}
    if kind in ("backbones", "vision"):
        card = load_card(spec.model_card)
        row["variants"] = ", ".join(
            f"{name}{'*' if name == (spec.default_variant or card.default_variant) else ''}" for name in card.variants)
        if kind == "backbones":
            row["chat format"] = card.chat_format
    elif kind == "tasks":
        row.update({"lmms-eval tasks": ", ".join(spec.lmms_tasks), "metric": spec.primary_metric,
                    "tags": ", ".join(spec.capability_tags)})
    elif kind == "recipes":
        row["profiles"] = ", ".join(spec.profiles)
    elif kind == "analyses":
        row["needs"] = ", ".join(spec.needs)
    return row


@click.command("list")
@click.argument("kind", type=click.Choice(list(KINDS)))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(kind: str, as_json: bool) -> None:
    """What plugins registered of one KIND."""
    entries = get_plugins().registry(kind).entries()
    rows = [{"name": e.spec.name, "plugin": e.plugin, "distribution": e.dist, **_describe(kind, e.spec)} for e in entries]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"{kind} (* default variant)" if kind in ("backbones", "vision") else kind)
    # "plugin" only in --json and `harness plugins` (the distribution says where a name comes from).
    # In a narrow terminal the descriptions go under the table, where they can use the whole width.
    narrow = console().width < 120
    columns = [c for c in (rows[0] if rows else {"name": ""}) if c not in ("plugin", "description")]
    if not narrow:
        columns.append("description")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(row.get(c) or "") for c in columns))
    console().print(table)
    if narrow:
        for row in rows:
            if row.get("description"):
                console().print(f"[bold]{row['name']}[/]: {row['description']}", highlight=False)


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", *args]
    console().print(f"[dim]$ {' '.join(command)}[/]")
    code = subprocess.call(command)
    if code != 0:
        raise HarnessError(f"pip {args[0]} failed (exit {code})", "see pip's output above")
    reset_plugins()


@click.command("install")
@click.argument("names", nargs=-1, required=True)
@click.option("-e", "--editable", is_flag=True, help="Install a local plugin folder in editable mode.")
def install_cmd(names: tuple[str, ...], editable: bool) -> None:
    """pip-install plugin distributions into the harness's own environment."""
    args = ["install"] + (["-e"] if editable else []) + list(names)
    _pip(*args)
    console().print("installed; `harness plugins` lists what they provide")


@click.command("uninstall")
@click.argument("names", nargs=-1, required=True)
def uninstall_cmd(names: tuple[str, ...]) -> None:
    """pip-uninstall plugin distributions from the harness's own environment."""
    _pip("uninstall", "-y", *names)


COMMANDS = [plugins_cmd, list_cmd, install_cmd, uninstall_cmd]
