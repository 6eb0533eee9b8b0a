"""``harness compare``: pick runs from the store, run the analysis plugins, print and save the report."""
from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import HarnessError
from harness.lazy import load_ref
from harness.runs import write_atomically
from harness.store import open_store

from harness_plugins.analyses.context import NEEDS_FLAGS, CompareContext
from harness_plugins.analyses.report import Report, to_json, to_markdown
from harness_plugins.analyses.result import AnalysisResult

KEYS = {"task": "task", "backbones": "backbones", "backbone": "backbones", "runs": "runs"}
BUILTIN_ORDER = ("controlled", "accuracy", "overlap", "calibration", "stability", "emergent", "vision_bound")


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


def run_compare(words: tuple[str, ...], plots: Path | None = None, allow_uncontrolled: bool = False,
                analyses: list[str] | None = None, resamples: int = 2000, seed: int = 0,
                store_file: Path | None = None) -> Report:
    """Everything ``harness compare`` does but printing: returns the report, written to the compare folder."""
    from harness.paths import store_path

    from harness_plugins.analyses.selection import build_context, select_runs, task_spec

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
        runs = select_runs(store, task, backbones, _split(args.get("runs")))
        final = compare_folder(runs[0].task if runs else task or "runs")
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=".staging-"))
        try:
            ctx = build_context(store, runs, allow_uncontrolled, out_dir=staging if plots is None else plots,
                                n_resamples=resamples, seed=seed, ordered=bool(backbones))
            results = []
            for spec, asked in chosen:
                why = missing_needs(ctx, spec.needs)
                if why and asked:
                    raise HarnessError(f"analysis {spec.name!r} cannot run: {why}")
                if why:
                    results.append(AnalysisResult(spec.name, spec.name, skipped=why))
                    continue
                results.append(load_ref(spec.implementation)(ctx))
            report = Report(ctx.task, ctx.labels,
                            [{"backbone": l, "run_id": r.run_id, "variant": r.variant, "controlled_hash": r.controlled_hash}
                             for l, r in zip(ctx.labels, ctx.runs)],
                            ctx.uncontrolled, results, folder=str(final))
            for result in results:  # plots in the staging folder get their final paths
                result.plots = [str(final / Path(p).name) if Path(p).parent == staging else p for p in result.plots]
            report.plots = [p for r in results for p in r.plots]
            import json

            write_atomically(staging / "report.json", json.dumps(to_json(report), indent=2))
            write_atomically(staging / "report.md", to_markdown(report))
            os.rename(staging, final)
        except BaseException:
            for child in staging.glob("*"):
                child.unlink()
            staging.rmdir()
            raise
    return report
