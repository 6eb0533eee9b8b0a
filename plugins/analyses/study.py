"""The whole study in one view: ``harness compare`` with no ``task=`` runs the analyses on every task
the store holds runs of, then states each of the paper's findings per task as shown, not shown,
inconclusive or not interpretable, with its statistic, before the per-task detail."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.analysis import INCONCLUSIVE, NOT_INTERPRETABLE, NOT_SHOWN, PAPER_FINDINGS, SHOWN, StudyFinding, Table
from harness_plugins.analyses.report import Report

# The paper's three tasks (VQA-Scene, seismic description, seismic coordinate prediction), as the store
# names them, and the sweep that runs them: the study says which of them it has no runs of.
PAPER_TASKS = ("vqa_scene", "seismic_description", "seismic_coordinates")
PAPER_SWEEP = "harness run -m task=vqa,seismic_desc,seismic_coords backbone=llama1,llama2,llama3"


def missing_paper_tasks(tasks: set[str]) -> dict[str, str]:
    """The paper's tasks absent from ``tasks``, each with the sweep that runs it."""
    return {t: f"not run: the paper's three tasks come from {PAPER_SWEEP}" for t in PAPER_TASKS if t not in tasks}


# Where each finding comes from when an analysis was skipped (its data missing): the reason shown.
SOURCE = {"gains": "accuracy", "different_not_more": "overlap", "calibration": "calibration",
          "stability": "stability", "emergent": "emergent", "vision_bound": "vision_bound"}


@dataclass
class StudyReport:
    """Per-task reports and the study summary table above them."""

    reports: list[Report]
    summary: Table
    lines: list[str]
    skipped_tasks: dict[str, str] = field(default_factory=dict)  # task -> why it has no report
    folder: str = ""

    def to_json(self) -> dict[str, Any]:
        from harness_plugins.analyses.report import to_json

        return {"study": {"columns": self.summary.columns, "rows": self.summary.rows, "note": self.summary.note,
                          "lines": self.lines, "skipped_tasks": self.skipped_tasks},
                "folder": self.folder, "tasks": {r.task: to_json(r) for r in self.reports}}


def finding_of(report: Report, key: str) -> StudyFinding:
    """The report's statement of one paper finding, or why there is none."""
    for result in report.results:
        for found in result.study:
            if found.finding == key:
                return found
    result = next((r for r in report.results if r.name == SOURCE[key]), None)
    why = result.skipped if result is not None and result.skipped else f"the {SOURCE[key]} analysis did not run"
    return StudyFinding(key, NOT_INTERPRETABLE, "", f"{PAPER_FINDINGS[key]} on {report.task}: not measured ({why})")


def task_dependent_gains(per_task: dict[str, StudyFinding]) -> StudyFinding:
    """Across tasks: shown when one task gains significantly and another shows no gain (equivalent) or a
    loss; not shown when every interpretable task gains, or none does; otherwise inconclusive."""
    readable = {t: f for t, f in per_task.items() if f.status != NOT_INTERPRETABLE}
    kinds = {f.status for f in readable.values()}
    listing = "; ".join(f"{t}: {f.status} ({f.statistic})" for t, f in readable.items())
    if len(readable) < 2:
        return StudyFinding("gains", NOT_INTERPRETABLE, "", "Task-dependent gains need two tasks with interpretable "
                            f"runs; {len(readable)} have them.")
    if "gain" in kinds and kinds & {"no gain", "loss"}:
        return StudyFinding("gains", SHOWN, listing, f"The newest generation's gain depends on the task: {listing}.")
    if kinds <= {"gain"} or kinds <= {"no gain", "loss"}:
        return StudyFinding("gains", NOT_SHOWN, listing, f"The gain is the same kind on every task: {listing}.")
    return StudyFinding("gains", INCONCLUSIVE, listing, f"Some tasks' gains are inconclusive: {listing}.")


def summarize(reports: list[Report]) -> tuple[Table, list[str]]:
    tasks = [r.task for r in reports]
    table = Table("Study summary: the paper's findings", ["finding"] + tasks + ["study"],
                  note="shown / not shown / inconclusive / not interpretable (a run at or below a baseline, or data "
                       "missing), with the statistic behind it; every test Holm-corrected within its analysis; "
                       "details per task below")
    lines = []
    for key, name in PAPER_FINDINGS.items():
        per_task = {r.task: finding_of(r, key) for r in reports}
        if key == "gains":
            overall = task_dependent_gains(per_task)
        else:
            statuses = [f.status for f in per_task.values()]
            status = (SHOWN if SHOWN in statuses else NOT_INTERPRETABLE if set(statuses) == {NOT_INTERPRETABLE}
                      else INCONCLUSIVE if INCONCLUSIVE in statuses else NOT_SHOWN)
            overall = StudyFinding(key, status, "", "")
        table.rows.append([name] + [_cell(per_task[t]) for t in tasks] + [overall.status])
        lines.append(f"{name}: {overall.status}" + (f". {overall.sentence}" if overall.sentence else ""))
        lines += [f"  {t}: {f.status}. {f.sentence}" for t, f in per_task.items()]
    return table, lines


def _cell(found: StudyFinding) -> str:
    return found.status + (f": {found.statistic}" if found.statistic else "")
