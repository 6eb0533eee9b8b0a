"""The leaderboard: backbone x task from the results store, best cell marked, uncertainty shown,
and runs that break the controlled-comparison contract flagged."""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass, field

from harness.evaluation.blind import blind_task, is_blind
from harness.store import ResultsStore

FORMATS = ("table", "markdown", "csv", "json")
UNCONTROLLED_MARK = "†"
THIS_RUN = "▶"  # marks the run just made, in front of its backbone


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

    def text(self) -> str:
        out = f"{self.value:.4f}"
        if self.stderr is not None:
            out += f" ± {self.stderr:.4f}"
        if self.blind is not None:
            out += f" (blind {self.blind:.4f})"
        return out + (UNCONTROLLED_MARK if self.uncontrolled else "")


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
    """The latest finished run per (backbone, task), its primary metric, and the marks; ``highlight``:
    the run id (or ids, for a sweep) that the command printing the board just made."""
    made = {highlight} if isinstance(highlight, str) else set(highlight or ())
    board = Leaderboard(tasks=[], backbones=[])
    seen: set[tuple[str, str]] = set()
    for run in store.runs(task=task):  # newest first: the first run seen per cell wins
        rows = store.metrics(run.run_id)
        blind = {(m.task, m.metric): m.value for m in rows if is_blind(m.task)}
        for m in (m for m in rows if m.primary and not is_blind(m.task)):
            label = backbone_label(run.backbone, run.variant)
            key = (label, m.task)
            if key in seen or (task is not None and m.task != task):
                continue
            seen.add(key)
            board.cells[key] = Cell(run.run_id, m.metric, m.value, m.stderr, m.higher_is_better,
                                    run.controlled_hash, highlighted=run.run_id in made,
                                    blind=blind.get((blind_task(m.task), m.metric)))
    board.tasks = sorted({t for _, t in board.cells})
    board.backbones = sorted({b for b, _ in board.cells})
    for t in board.tasks:
        column = [c for (b, tt), c in board.cells.items() if tt == t]
        # The controlled contract: cells of a column must share everything but the backbone.
        # The most common controlled hash is the reference; the others are marked.
        reference, _ = Counter(c.controlled_hash for c in column).most_common(1)[0]
        for c in column:
            c.uncontrolled = c.controlled_hash != reference
        comparable = [c for c in column if not c.uncontrolled]
        if len(comparable) > 1:
            pick = max if comparable[0].higher_is_better else min
            best = pick(comparable, key=lambda c: c.value)
            for c in comparable:
                c.best = c.value == best.value
    return board


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
    notes = ["", "; ".join(marks)] if marks else [""]
    if any(c.uncontrolled for c in board.cells.values()):
        notes.append(f"{UNCONTROLLED_MARK} breaks the controlled comparison: differs from the column's other "
                     "runs in more than the backbone (see `harness compare`)")
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
