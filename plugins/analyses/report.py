"""The compare report: every analysis result plus the summary, rendered as rich tables, markdown or JSON.

When the runs break the controlled comparison, every table's title says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness_plugins.analyses.result import AnalysisResult, Table

UNCONTROLLED = "UNCONTROLLED"


@dataclass
class Report:
    task: str
    labels: list[str]
    runs: list[dict[str, Any]]
    uncontrolled: bool
    results: list[AnalysisResult]
    folder: str = ""
    plots: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        """One sentence per finding, then one per skipped analysis saying why."""
        lines = [f for r in self.results if not r.skipped for f in r.findings]
        lines += [f"{r.title} was skipped: {r.skipped}." for r in self.results if r.skipped]
        return lines

    def title(self, table: Table) -> str:
        return table.title + (f" [{UNCONTROLLED}: differs in more than the backbone]" if self.uncontrolled else "")


def _clean(value: Any) -> Any:
    """JSON-safe: nan becomes null, tuples lists, keys strings."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(report: Report) -> dict[str, Any]:
    return _clean({
        "task": report.task, "backbones": report.labels, "runs": report.runs, "controlled": not report.uncontrolled,
        "folder": report.folder, "plots": report.plots, "summary": report.summary(),
        "analyses": {r.name: {"title": r.title, "skipped": r.skipped, "findings": r.findings, "data": r.data,
                              "plots": r.plots,
                              "tables": [{"title": report.title(t), "columns": t.columns, "rows": t.rows, "note": t.note}
                                         for t in r.tables]}
                     for r in report.results},
    })


def to_markdown(report: Report) -> str:
    out = [f"# harness compare: {report.task} ({', '.join(report.labels)})", ""]
    if report.uncontrolled:
        out += [f"**{UNCONTROLLED}**: these runs differ in more than the backbone (see the first table).", ""]
    out += ["## Summary", ""] + [f"- {line}" for line in report.summary()] + [""]
    for result in report.results:
        out += [f"## {result.title}", ""]
        if result.skipped:
            out += [f"Skipped: {result.skipped}.", ""]
            continue
        for table in result.tables:
            out += [f"**{report.title(table)}**", "", "| " + " | ".join(table.columns) + " |",
                    "|" + "---|" * len(table.columns)]
            out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table.rows]
            out += ([""] + [f"_{table.note}_"] if table.note else []) + [""]
        out += [f"![{p}]({p})" for p in result.plots] + ([""] if result.plots else [])
    return "\n".join(out)


def print_report(report: Report, console) -> None:
    """Rich tables, then the summary."""
    from rich.table import Table as RichTable
    from rich.text import Text

    if report.uncontrolled:
        console.print(f"{UNCONTROLLED}: these runs differ in more than the backbone", style="bold red", markup=False)
    for result in report.results:
        if result.skipped:
            console.print(f"{result.title}: skipped ({result.skipped})", style="yellow", markup=False)
            continue
        for table in result.tables:
            rich_table = RichTable(title=Text(report.title(table)), caption=Text(table.note) if table.note else None,
                                   caption_justify="left")
            for i, column in enumerate(table.columns):
                rich_table.add_column(column, justify="left" if i == 0 else "right", overflow="fold")
            for row in table.rows:
                rich_table.add_row(*(Text(cell) for cell in row))  # cells are data, not markup
            console.print(rich_table, markup=False)
    console.print("Summary", style="bold")
    for line in report.summary():
        console.print(f"- {line}", markup=False, soft_wrap=True)
    if report.folder:
        console.print(f"report and plots: {report.folder}", style="dim", markup=False)
