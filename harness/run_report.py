"""The per-run report ``harness run`` prints under the leaderboard: every metric of each task the
run evaluated (baselines such as ``majority_baseline`` beside the score, and the blind baseline, the
same metric with every image blanked, in a column of its own), with standard errors, and where the
time went."""
from __future__ import annotations

from typing import Any

from harness.evaluation.blind import blind_task, is_blind
from harness.store import ResultsStore


def print_run_report(store: ResultsStore, run_id: str, console: Any) -> None:
    """One table per task of ``run_id``: metric, value, +/- stderr, and the blind value where the run has a
    blind pass; primary metric first (bold), then baselines; then the run id and its timings."""
    from rich.table import Table

    run = store.run(run_id)
    if run is None:
        return
    by_task: dict[str, list] = {}
    for row in store.metrics(run_id):
        by_task.setdefault(row.task, []).append(row)
    for task, rows in by_task.items():
        if is_blind(task):
            continue  # shown beside its task
        blind = {r.metric: r for r in by_task.get(blind_task(task), [])}
        rows.sort(key=lambda r: (not r.primary, "baseline" not in r.metric))
        table = Table(title=f"{task}, this run", title_justify="left",
                      caption="blind: the same items with every image blanked" if blind else None, caption_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_column("± stderr", justify="right")
        if blind:
            table.add_column("blind", justify="right")
        for row in rows:
            style = "bold" if row.primary else None
            stderr = f"{row.stderr:.4f}" if row.stderr is not None else ""
            cells = [row.metric, f"{row.value:.4f}", stderr]
            if blind:
                seen_blind = blind.get(row.metric)
                cells.append("" if seen_blind is None or "baseline" in row.metric else f"{seen_blind.value:.4f}")
            table.add_row(*cells, style=style)
        console.print(table)
    timings = dict(run.timings or {})
    reused = timings.get("train_s") == 0
    parts = [f"{k.removesuffix('_s')} {v:.1f}s" for k, v in timings.items()
             if k.endswith("_s") and not k.endswith("_per_s") and not (reused and k == "train_s")]
    parts += [f"{k.removesuffix('_tokens_per_s')} {v:,.0f} tokens/s" for k, v in timings.items() if k.endswith("_tokens_per_s")]
    parts += [f"{k.removesuffix('_mfu')} MFU {v:.1%}" for k, v in timings.items() if k.endswith("_mfu")]
    parts += [f"{k.removesuffix('_processes')} on {int(v)} process{'es' if v != 1 else ''}"
              for k, v in timings.items() if k.endswith("_processes") and not (reused and k == "train_processes")]
    parts += [f"{k.removesuffix('_truncated_samples')} cut {int(v):,} of {int(timings.get(k.replace('_truncated_', '_'), 0)):,} "
              "samples at recipe.max_length" for k, v in timings.items() if k.endswith("_truncated_samples") and v and not reused]
    if run.versions.get("attention"):
        console.print(f"attention: {run.versions['attention']}", soft_wrap=True, markup=False, highlight=False)
    console.print(f"run {run_id}" + (" (checkpoint reused)" if reused else "") + (": " + ", ".join(parts) if parts else ""),
                  soft_wrap=True)
