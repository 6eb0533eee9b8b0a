"""The per-run report ``harness run`` prints under the leaderboard: every metric of each task the
run evaluated (baselines such as ``majority_baseline`` beside the score), with standard errors,
and where the time went."""
from __future__ import annotations

from typing import Any

from harness.store import ResultsStore


def print_run_report(store: ResultsStore, run_id: str, console: Any) -> None:
    """One table per task of ``run_id``: metric, value, +/- stderr; primary metric first (bold), then
    baselines; then the run id and its timings."""
    from rich.table import Table

    run = store.run(run_id)
    if run is None:
        return
    by_task: dict[str, list] = {}
    for row in store.metrics(run_id):
        by_task.setdefault(row.task, []).append(row)
    for task, rows in by_task.items():
        rows.sort(key=lambda r: (not r.primary, "baseline" not in r.metric))
        table = Table(title=f"{task}, this run", title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_column("± stderr", justify="right")
        for row in rows:
            style = "bold" if row.primary else None
            stderr = f"{row.stderr:.4f}" if row.stderr is not None else ""
            table.add_row(row.metric, f"{row.value:.4f}", stderr, style=style)
        console.print(table)
    timings = dict(run.timings or {})
    reused = timings.get("train_s") == 0
    parts = [f"{k.removesuffix('_s')} {v:.1f}s" for k, v in timings.items()
             if k.endswith("_s") and not k.endswith("_per_s") and not (reused and k == "train_s")]
    parts += [f"{k.removesuffix('_tokens_per_s')} {v:,.0f} tokens/s" for k, v in timings.items() if k.endswith("_tokens_per_s")]
    parts += [f"{k.removesuffix('_mfu')} MFU {v:.1%}" for k, v in timings.items() if k.endswith("_mfu")]
    if run.versions.get("attention"):
        console.print(f"attention: {run.versions['attention']}", soft_wrap=True, markup=False, highlight=False)
    console.print(f"run {run_id}" + (" (checkpoint reused)" if reused else "") + (": " + ", ".join(parts) if parts else ""),
                  soft_wrap=True)
