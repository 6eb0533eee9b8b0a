"""What an analysis returns: tables of formatted cells, one-sentence findings, its contribution to the
study summary, raw numbers and plots."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The paper's findings, in the order the study summary shows them (key -> what it is called).
PAPER_FINDINGS: dict[str, str] = {
    "gains": "task-dependent gains",
    "different_not_more": "different questions, not more",
    "calibration": "better calibration",
    "stability": "more stable representations",
    "emergent": "emergent capabilities",
    "vision_bound": "vision-bound tasks",
}
SHOWN, NOT_SHOWN, INCONCLUSIVE, NOT_INTERPRETABLE = "shown", "not shown", "inconclusive", "not interpretable"


@dataclass
class Table:
    """A table as text cells; renderers add styling (rich), pipes (markdown) or keep it (JSON)."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


@dataclass
class StudyFinding:
    """One of the paper's findings (a key of PAPER_FINDINGS) on one task, for the study summary.

    ``status`` is ``shown``, ``not shown``, ``inconclusive`` or ``not interpretable`` (for ``gains``:
    ``gain``, ``no gain``, ``loss``, ``inconclusive`` or ``not interpretable``, which the study turns
    into shown or not across tasks); ``statistic`` the test and interval behind it."""

    finding: str
    status: str
    statistic: str
    sentence: str


@dataclass
class AnalysisResult:
    """The outcome of one analysis plugin.

    ``findings`` are one sentence each, with their numbers; they make up the summary. ``study`` holds
    what the analysis says about the paper's findings (see :class:`StudyFinding`). ``data`` holds the
    raw numbers for ``--format json``. ``skipped`` says why the analysis could not run (and which flag
    to rerun with) when the runs lack what it needs.
    """

    name: str
    title: str
    tables: list[Table] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    skipped: str | None = None
    study: list[StudyFinding] = field(default_factory=list)
