"""The compare report: every analysis result plus the summary, rendered as rich tables, markdown or JSON.

When the runs break the controlled comparison, every table's title says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness.analysis.result import AnalysisResult, Table

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
                              "plots": r.plots, "study": [vars(f) for f in r.study],
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
            out += table_markdown(table, report.title(table))
        out += [f"![{p}]({p})" for p in result.plots] + ([""] if result.plots else [])
    return "\n".join(out)


def table_markdown(table: Table, title: str | None = None) -> list[str]:
    """A table as markdown lines: bold title, pipes, the note in italics, a blank line."""
    out = [f"**{title or table.title}**", "", "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table.rows]
    return out + ([""] + [f"_{table.note}_"] if table.note else []) + [""]


def rich_table(table: Table, title: str | None = None):
    from rich.table import Table as RichTable
    from rich.text import Text

    out = RichTable(title=Text(title or table.title), caption=Text(table.note) if table.note else None,
                    caption_justify="left")
    for i, column in enumerate(table.columns):
        out.add_column(column, justify="left" if i == 0 else "right", overflow="fold")
    for row in table.rows:
        out.add_row(*(Text(cell) for cell in row))  # cells are data, not markup
    return out


def print_study(study, console) -> None:
    """The study summary table and its sentences, then each task's report."""
    console.print(rich_table(study.summary), markup=False)
    for line in study.lines:
        console.print(f"- {line.strip()}" if not line.startswith("  ") else f"    {line.strip()}", markup=False,
                      soft_wrap=True)
    for task, why in study.skipped_tasks.items():
        console.print(f"{task}: skipped ({why})", style="yellow", markup=False)
    for report in study.reports:
        console.rule(report.task)
        print_report(report, console)


def print_report(report: Report, console) -> None:
    """Rich tables, then the summary."""
    if report.uncontrolled:
        console.print(f"{UNCONTROLLED}: these runs differ in more than the backbone", style="bold red", markup=False)
    for result in report.results:
        if result.skipped:
            console.print(f"{result.title}: skipped ({result.skipped})", style="yellow", markup=False)
            continue
        for table in result.tables:
            console.print(rich_table(table, report.title(table)), markup=False)
    console.print("Summary", style="bold")
    for line in report.summary():
        console.print(f"- {line}", markup=False, soft_wrap=True)
    if report.folder:
        console.print(f"report and plots: {report.folder}", style="dim", markup=False)
