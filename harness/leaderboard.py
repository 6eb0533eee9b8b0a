"""The leaderboard: backbone x task from the results store, best cell marked, uncertainty shown,
seed replicates of a cell averaged (mean, spread, n), runs that break the controlled-comparison contract
flagged, and cells whose run fails the competence gate (at or below a baseline, or a constant answer)
marked not interpretable."""
from __future__ import annotations

import csv
import io
import json
import statistics
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass, field

from harness.evaluation.blind import blind_task, is_blind
from harness.store import ResultsStore

FORMATS = ("table", "markdown", "csv", "json")
UNCONTROLLED_MARK = "†"
THIS_RUN = "▶"  # marks the run just made, in front of its backbone
NOT_INTERPRETABLE_MARK = "‡"


@dataclass
class Cell:
    run_id: str
    metric: str
    value: float
    stderr: float | None
    higher_is_better: bool
    controlled_hash: str
    best: bool = False
    uncontrolled: bool = False
    highlighted: bool = False
    blind: float | None = None  # the same metric with every image blanked (the blind baseline), when evaluated
    replicates: int = 1  # seeds of the cell; with several, value is their mean and spread their sd
    spread: float | None = None
    not_interpretable: str | None = None  # why the competence gate fails the (newest) run, if it does

    def text(self) -> str:
        out = f"{self.value:.4f}"
        if self.replicates > 1:
            out += f" ± {self.spread:.4f} sd (n={self.replicates})"
        elif self.stderr is not None:
            out += f" ± {self.stderr:.4f}"
        if self.blind is not None:
            out += f" (blind {self.blind:.4f})"
        return out + (UNCONTROLLED_MARK if self.uncontrolled else "") + \
            (NOT_INTERPRETABLE_MARK if self.not_interpretable else "")


@dataclass
class Leaderboard:
    tasks: list[str]
    backbones: list[str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)  # (backbone, task) -> cell

    @property
    def empty(self) -> bool:
        return not self.cells

    def to_json(self) -> dict:
        return {
            "tasks": self.tasks,
            "backbones": self.backbones,
            "cells": [{"backbone": b, "task": t, **asdict(c)} for (b, t), c in sorted(self.cells.items())],
        }


def backbone_label(backbone: str, variant: str) -> str:
    return f"{backbone} ({variant})"


def build_leaderboard(store: ResultsStore, task: str | None = None,
                      highlight: str | Collection[str] | None = None) -> Leaderboard:
    """The latest finished run per (backbone, task), its primary metric (the mean over the other seeds of
    its cell too), and the marks; ``highlight``: the run id (or ids, for a sweep) that the command
    printing the board just made."""
    from harness.analysis.replicates import controlled_key, replicates_of

    made = {highlight} if isinstance(highlight, str) else set(highlight or ())
    board = Leaderboard(tasks=[], backbones=[])
    seen: set[tuple[str, str]] = set()
    runs = store.runs(task=task)
    for run in runs:  # newest first: the first run seen per cell wins
        rows = store.metrics(run.run_id)
        blind = {(m.task, m.metric): m.value for m in rows if is_blind(m.task)}
        for m in (m for m in rows if m.primary and not is_blind(m.task)):
            label = backbone_label(run.backbone, run.variant)
            key = (label, m.task)
            if key in seen or (task is not None and m.task != task):
                continue
            seen.add(key)
            values = [m.value] + [r.value for other in replicates_of(run, runs)[1:] for r in store.metrics(other.run_id)
                                  if (r.task, r.metric) == (m.task, m.metric)]
            cell = Cell(run.run_id, m.metric, sum(values) / len(values), m.stderr, m.higher_is_better,
                        controlled_key(run), highlighted=run.run_id in made,
                        blind=blind.get((blind_task(m.task), m.metric)), replicates=len(values),
                        not_interpretable=gate_problem(store, run, run.backbone, m.task))
            if len(values) > 1:
                cell.spread = statistics.stdev(values)
            board.cells[key] = cell
    board.tasks = sorted({t for _, t in board.cells})
    board.backbones = sorted({b for b, _ in board.cells})
    for t in board.tasks:
        column = [c for (b, tt), c in board.cells.items() if tt == t]
        # The controlled contract: cells of a column must share everything but the backbone.
        # The most common controlled hash is the reference; the others are marked.
        reference, _ = Counter(c.controlled_hash for c in column).most_common(1)[0]
        for c in column:
            c.uncontrolled = c.controlled_hash != reference
        comparable = [c for c in column if not c.uncontrolled and not c.not_interpretable]
        if len(comparable) > 1:
            pick = max if comparable[0].higher_is_better else min
            best = pick(comparable, key=lambda c: c.value)
            for c in comparable:
                c.best = c.value == best.value
    return board


def gate_problem(store: ResultsStore, run, label: str, task: str) -> str | None:
    """Why the competence gate fails ``run`` on all of ``task``'s items (see harness.analysis.gate), or None."""
    samples = store.samples(run.run_id, task)
    if not samples:
        return None
    from harness.analysis.context import group_value, solved
    from harness.analysis.gate import check

    by_doc = {s.doc_id: s.score for s in store.samples(run.run_id, blind_task(task))}
    blind = solved([by_doc.get(s.doc_id) for s in samples]) if by_doc else None
    scores = [s.score for s in samples]
    binary = all(x in (0.0, 1.0) for x in scores if x is not None)
    gate = check(label, f"{task} items", solved(scores), [s.prediction for s in samples],
                 [s.target for s in samples] if binary else None, blind,
                 [str(group_value(s.extra, "qtype")) for s in samples])
    return "; ".join(gate.problems) or None


def render(board: Leaderboard, fmt: str = "table") -> str | None:
    """The leaderboard as markdown, CSV or JSON text; for ``table`` print it with :func:`print_table`."""
    if fmt == "json":
        return json.dumps(board.to_json(), indent=2)
    header = ["backbone"] + [f"{t} ({_metric_of(board, t)})" for t in board.tasks]
    rows = []
    for b in board.backbones:
        row = [b]
        for t in board.tasks:
            cell = board.cells.get((b, t))
            row.append("" if cell is None else cell.text() + (" *" if cell.best else ""))
        rows.append(row)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(header)
        writer.writerows(rows)
        return buf.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines += _footnotes(board)
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown format {fmt!r}")


def _metric_of(board: Leaderboard, task: str) -> str:
    return next(c.metric for (b, t), c in board.cells.items() if t == task)


def _footnotes(board: Leaderboard) -> list[str]:
    cells = board.cells.values()
    marks = (["* best comparable value in the column"] if any(c.best for c in cells) else []) + \
        (["± standard error"] if any(c.stderr is not None for c in cells) else []) + \
        (["blind: the same metric with every image blanked"] if any(c.blind is not None for c in cells) else [])
    if any(c.replicates > 1 for c in cells):
        marks.append("n: seed replicates (mean ± standard deviation over seeds)")
    notes = ["", "; ".join(marks)] if marks else [""]
    if any(c.uncontrolled for c in board.cells.values()):
        notes.append(f"{UNCONTROLLED_MARK} breaks the controlled comparison: differs from the column's other "
                     "runs in more than the backbone (see `harness compare`)")
    for (b, t), c in sorted(board.cells.items()):
        if c.not_interpretable:
            notes.append(f"{NOT_INTERPRETABLE_MARK} {b} on {t} is not interpretable: {c.not_interpretable}")
    return notes


def print_table(board: Leaderboard, console) -> None:
    """Render with rich: best cell bold green, highlighted run reversed, uncontrolled cells dim."""
    from rich.table import Table

    table = Table(title="Leaderboard", show_lines=False)
    table.add_column("backbone", style="bold")
    for t in board.tasks:
        table.add_column(f"{t}\n{_metric_of(board, t)}", justify="right")
    marked = len(board.backbones) > 1  # with one row there is nothing to point at
    for b in board.backbones:
        row, mine = [], False
        for t in board.tasks:
            cell = board.cells.get((b, t))
            if cell is None:
                row.append("")
                continue
            style = "bold green" if cell.best else ("dim" if cell.uncontrolled else "")
            if cell.highlighted and marked:
                style += " reverse"
                mine = True
            text = cell.text() + (" *" if cell.best else "")
            row.append(f"[{style.strip()}]{text}[/]" if style.strip() else text)
        table.add_row(f"{THIS_RUN} {b}" if mine else b, *row)  # the mark survives a pipe, the reverse does not
    console.print(table)
    notes = _footnotes(board)[1:]
    if marked and any(c.highlighted for c in board.cells.values()):
        notes.append(f"{THIS_RUN} made by this command")
    for note in notes:
        console.print(note, style="dim", markup=False)
