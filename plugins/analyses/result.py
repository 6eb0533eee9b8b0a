"""What an analysis returns: tables of formatted cells, one-sentence findings, raw numbers and plots."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    """A table as text cells; renderers add styling (rich), pipes (markdown) or keep it (JSON)."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


@dataclass
class AnalysisResult:
    """The outcome of one analysis plugin.

    ``findings`` are one sentence each, with their numbers; they make up the summary. ``data`` holds
    the raw numbers for ``--format json``. ``skipped`` says why the analysis could not run (and which
    flag to rerun with) when the runs lack what it needs.
    """

    name: str
    title: str
    tables: list[Table] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    skipped: str | None = None
