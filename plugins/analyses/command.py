"""``harness compare``: pick runs from the store, run the analysis plugins, print and save the report."""
from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import HarnessError
from harness.lazy import load_ref
from harness.runs import write_atomically
from harness.store import open_store

from harness.analysis import AnalysisResult, CompareContext
from harness.analysis.context import NEEDS_FLAGS
from harness_plugins.analyses.report import Report, to_json, to_markdown

KEYS = {"task": "task", "backbones": "backbones", "backbone": "backbones", "runs": "runs"}
BUILTIN_ORDER = ("controlled", "competence", "accuracy", "overlap", "calibration", "stability", "emergent", "vision_bound")


def parse_words(words: tuple[str, ...]) -> dict[str, str]:
    """``task=vqa backbones=llama1,llama3 runs=ID,ID`` -> dict; anything else is an error."""
    parsed: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or key.strip() not in KEYS or not value.strip():
            raise HarnessError(f"compare takes task=NAME, backbones=A,B,... and runs=ID,ID, got {word!r}",
                               "e.g. harness compare task=vqa backbones=llama1,llama2,llama3")
        parsed[KEYS[key.strip()]] = value.strip()
    return parsed


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def pick_analyses(names: list[str] | None):
    """(spec, explicitly asked for) in report order; unknown names are an error."""
    from harness.plugin_manager import get_plugins

    registry = get_plugins().registry("analyses")
    if names:
        specs = [registry.get(n) for n in names]
        if not any(s.name == "controlled" for s in specs) and "controlled" in registry:
            specs.insert(0, registry.get("controlled"))  # the check always runs and always comes first
        return [(s, s.name != "controlled" or "controlled" in names) for s in specs]
    specs = [e.spec for e in registry.entries()]
    rank = {name: i for i, name in enumerate(BUILTIN_ORDER)}
    return [(s, False) for s in sorted(specs, key=lambda s: (rank.get(s.name, len(rank)), s.name))]


def missing_needs(ctx: CompareContext, needs: tuple[str, ...]) -> str | None:
    """Why the runs cannot feed an analysis that needs ``needs`` (naming the flag), or None."""
    from harness_plugins.analyses.stability import missing_hidden_states

    for need in needs:
        if need == "confidence":
            lacking = [label for label, ok in zip(ctx.labels, ctx.has_confidence()) if not ok]
        elif need == "hidden_states":
            lacking = missing_hidden_states(ctx)
        else:
            raise HarnessError(f"an analysis needs {need!r}, which harness compare does not know",
                               f"known needs: {', '.join(NEEDS_FLAGS)}")
        if lacking:
            return f"runs of {', '.join(lacking)} have no saved {need.replace('_', ' ')}; {NEEDS_FLAGS[need]}"
    return None


def compare_folder(task: str) -> Path:
    from harness.paths import home

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = home() / "compare" / f"{task}-{stamp}"
    n = 1
    while folder.exists():  # two compares in the same second keep both reports
        n += 1
        folder = home() / "compare" / f"{task}-{stamp}-{n}"
    return folder


def analyze_runs(store, runs: list, analyses: list, allow_uncontrolled: bool, plot_dir: Path, final: Path,
                 resamples: int, seed: int, ordered: bool) -> Report:
    """Build the context of ``runs`` and run the chosen analyses; plots drawn into ``plot_dir`` are
    reported under ``final`` (where the caller moves them)."""
    from harness_plugins.analyses.selection import build_context

    ctx = build_context(store, runs, allow_uncontrolled, out_dir=plot_dir, n_resamples=resamples, seed=seed,
                        ordered=ordered)
    results = []
    for spec, asked in analyses:
        why = missing_needs(ctx, spec.needs)
        if why and asked:
            raise HarnessError(f"analysis {spec.name!r} cannot run: {why}")
        if why:
            results.append(AnalysisResult(spec.name, spec.name, skipped=why))
            continue
        results.append(load_ref(spec.implementation)(ctx))
    report = Report(ctx.task, ctx.labels,
                    [{"backbone": l, "run_id": r.run_id, "variant": r.variant, "controlled_hash": r.controlled_hash,
                      "replicates": [x.run_id for x in reps]}
                     for l, r, reps in zip(ctx.labels, ctx.runs, ctx.replicate_runs)],
                    ctx.uncontrolled, results, folder=str(final))
    for result in results:  # plots in the staging folder get their final paths
        result.plots = [str(final / Path(p).name) if Path(p).parent == plot_dir else p for p in result.plots]
    report.plots = [p for r in results for p in r.plots]
    return report


class _Staged:
    """A compare folder written under a staging name and renamed when complete (removed on failure)."""

    def __init__(self, name: str):
        self.final = compare_folder(name)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(dir=self.final.parent, prefix=".staging-"))

    def __enter__(self) -> "_Staged":
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is None:
            os.rename(self.path, self.final)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def run_compare(words: tuple[str, ...], plots: Path | None = None, allow_uncontrolled: bool = False,
                analyses: list[str] | None = None, resamples: int = 2000, seed: int = 0,
                store_file: Path | None = None):
    """Everything ``harness compare`` does but printing: returns the report (a :class:`StudyReport` when
    neither task= nor runs= is given), written to the compare folder."""
    import json

    from harness.paths import store_path

    from harness_plugins.analyses.selection import select_runs, task_spec

    args = parse_words(words)
    task = args.get("task")
    if task is not None:
        spec = task_spec(task)
        task = spec.name if spec is not None else task
    backbones = _split(args.get("backbones"))
    path = store_file or store_path()
    if not path.exists():
        raise HarnessError(f"no results store at {path}", "run `harness run ...` first, or point --home at an existing one")
    chosen = pick_analyses(analyses)
    with open_store(path) as store:
        if task is None and not args.get("runs"):
            return run_study(store, chosen, backbones, plots, allow_uncontrolled, resamples, seed)
        runs = select_runs(store, task, backbones, _split(args.get("runs")))
        with _Staged(runs[0].task if runs else task or "runs") as staged:
            report = analyze_runs(store, runs, chosen, allow_uncontrolled, plots or staged.path, staged.final,
                                  resamples, seed, bool(backbones))
            write_atomically(staged.path / "report.json", json.dumps(to_json(report), indent=2))
            write_atomically(staged.path / "report.md", to_markdown(report))
    return report


def run_study(store, chosen: list, backbones: list[str] | None, plots: Path | None, allow_uncontrolled: bool,
              resamples: int, seed: int):
    """Every task with runs of two or more backbones, analysed, with the study summary on top."""
    import json

    from harness_plugins.analyses.selection import select_runs
    from harness_plugins.analyses.study import PAPER_SWEEP, StudyReport, missing_paper_tasks, summarize

    tasks = sorted({r.task for r in store.runs()})
    if not tasks:
        raise HarnessError(f"no finished runs in {store.path}",
                           f"run the study first: {PAPER_SWEEP}")
    reports, skipped = [], {}
    with _Staged("study") as staged:
        for task in tasks:
            runs = select_runs(store, task, backbones)
            if len({r.backbone for r in runs}) < 2:
                skipped[task] = f"runs of {len(runs)} backbone; compare needs two"
                continue
            folder = (plots or staged.path) / task
            try:
                reports.append(analyze_runs(store, runs, chosen, allow_uncontrolled, folder, staged.final / task,
                                            resamples, seed, bool(backbones)))
            except HarnessError as exc:
                skipped[task] = exc.one_line()
        if not reports:
            raise HarnessError("no task has comparable runs of two backbones ("
                               + "; ".join(f"{t}: {w}" for t, w in skipped.items()) + ")",
                               f"run e.g. {PAPER_SWEEP}")
        skipped.update(missing_paper_tasks(set(tasks)))
        summary, lines = summarize(reports)
        study = StudyReport(reports, summary, lines, skipped, folder=str(staged.final))
        write_atomically(staged.path / "report.json", json.dumps(study.to_json(), indent=2))
        write_atomically(staged.path / "report.md", study_markdown(study))
    return study


def study_markdown(study) -> str:
    from harness_plugins.analyses.report import table_markdown

    out = ["# harness compare: the study", ""] + table_markdown(study.summary) + [""]
    out += [f"- {line.strip()}" for line in study.lines] + [""]
    out += [f"- {task}: skipped ({why})" for task, why in study.skipped_tasks.items()]
    for report in study.reports:
        out += [""] + ["#" + line if line.startswith("#") else line for line in to_markdown(report).splitlines()]
    return "\n".join(out)
