"""Pick the runs to compare from the results store and build the :class:`CompareContext`.

The latest finished run per backbone for the task, or the runs named by id, each with the other seeds
of its cell (its replicates) and its blind pass; refuses (one line, exit 2) when fewer than two remain,
when the runs are of different tasks, when a backbone is not in the store, or when the runs break the
controlled comparison (in more than the backbone and the seed) without ``--allow-uncontrolled``.
"""
from __future__ import annotations

from pathlib import Path

from harness.analysis.context import CompareContext, align_samples, config_differences, scores_on
from harness.analysis.replicates import REPLICATE_KEYS, controlled_key, replicates_of
from harness.errors import HarnessError, did_you_mean
from harness.evaluation.blind import blind_task, seeing_task
from harness.store import ResultsStore, RunRecord, SampleRow


def task_spec(task: str):
    """The registered TaskSpec for a name or alias, or None for a task no plugin registers."""
    from harness.plugin_manager import get_plugins

    registry = get_plugins().registry("tasks")
    return registry.get(task) if task in registry else None


def backbone_generation(backbone: str) -> int | None:
    """The generation from the backbone's model card (1, 2, 3 for LLaMA), None when unknown."""
    from harness.model_cards import load_card
    from harness.plugin_manager import get_plugins

    registry = get_plugins().registry("backbones")
    try:
        return load_card(registry.get(backbone).model_card).generation if backbone in registry else None
    except HarnessError:
        return None


def select_runs(store: ResultsStore, task: str | None, backbones: list[str] | None = None,
                run_ids: list[str] | None = None) -> list[RunRecord]:
    """The runs to compare: by id, or the latest finished run of each backbone (and variant) for ``task``."""
    if run_ids:
        runs = []
        for run_id in run_ids:
            run = store.run(run_id)
            if run is None:
                raise HarnessError(f"no run {run_id!r} in {store.path}", "list runs with `harness leaderboard --format json`")
            runs.append(run)
        tasks = sorted({r.task for r in runs})
        if len(tasks) > 1:
            raise HarnessError(f"runs of different tasks cannot be compared item by item ({', '.join(tasks)})",
                               "pick runs of one task, or use task=NAME")
        if task is not None and tasks[0] != task:
            raise HarnessError(f"the runs are of task {tasks[0]!r}, not {task!r}", f"use task={tasks[0]}")
        return runs
    if task is None:
        raise HarnessError("harness compare needs task=NAME (or runs=ID,ID)", "e.g. harness compare task=vqa")
    finished = store.runs(task=task)
    if not finished:
        known = sorted({r.task for r in store.runs()})
        raise HarnessError(f"no finished runs of task {task!r} in {store.path}{did_you_mean(task, known)}",
                           f"run e.g. `harness run -m task={task} backbone=llama1,llama2,llama3` first")
    latest: dict[tuple[str, str], RunRecord] = {}
    for run in finished:  # newest first
        latest.setdefault((run.backbone, run.variant), run)
    if backbones:
        present = sorted({b for b, _ in latest})
        runs = []
        for name in backbones:
            picked = [r for (b, _), r in latest.items() if b == name]
            if not picked:
                raise HarnessError(f"backbone {name!r} has no finished run of task {task!r} in the store"
                                   f"{did_you_mean(name, present)}", f"backbones with runs: {', '.join(present)}")
            runs.extend(picked)
        return runs
    return list(latest.values())


def labels_for(runs: list[RunRecord]) -> list[str]:
    """The backbone name, or ``backbone/variant`` when one backbone appears with several variants."""
    names = [r.backbone for r in runs]
    return [r.backbone if names.count(r.backbone) == 1 else f"{r.backbone}/{r.variant}" for r in runs]


def build_context(store: ResultsStore, runs: list[RunRecord], allow_uncontrolled: bool = False,
                  out_dir: Path | None = None, n_resamples: int = 2000, seed: int = 0,
                  ordered: bool = False) -> CompareContext:
    """Load and align the samples of ``runs``; check the controlled contract.

    Runs are shown oldest generation first (model card ``generation``, then name) unless ``ordered``
    keeps the order given.
    """
    if len(runs) < 2:
        found = ", ".join(f"{r.backbone} ({r.run_id})" for r in runs) or "none"
        raise HarnessError(f"compare needs at least two comparable runs, found {len(runs)} ({found})",
                           "evaluate more backbones, e.g. `harness run -m task=vqa backbone=llama1,llama2,llama3`")
    generations = {r.run_id: backbone_generation(r.backbone) for r in runs}
    if not ordered:
        runs = sorted(runs, key=lambda r: (generations[r.run_id] is None, generations[r.run_id] or 0, r.backbone, r.variant))
    labels = labels_for(runs)
    spec = task_spec(runs[0].task)
    task = runs[0].task
    names = [task, *(spec.lmms_tasks if spec else ())]
    samples = []
    for run, label in zip(runs, labels):
        rows = _samples(store, run, names)
        if not rows:
            raise HarnessError(f"run {run.run_id} ({label}) has no per-sample rows for task {task!r}",
                               "rerun it with `harness run`, which stores every sample")
        samples.append(rows)
    finished = store.runs(task=task)
    replicate_runs, replicate_samples = [], []
    for run, rows in zip(runs, samples):  # each backbone's other seeds, those with samples of the task
        found = [(r, _samples(store, r, names)) for r in replicates_of(run, finished)[1:]]
        replicate_runs.append([run] + [r for r, s in found if s])
        replicate_samples.append([rows] + [s for _, s in found if s])
    aligned = align_samples([rows for reps in replicate_samples for rows in reps])
    if not aligned.items:
        raise HarnessError(f"the runs share no evaluated items for task {task!r}",
                           "rerun them with the same eval.limit and task data")
    first = align_samples(samples)  # the backbones' newest runs, restricted below to the shared items
    column = {item: j for j, item in enumerate(first.items)}
    keep = [column[item] for item in aligned.items]
    blind = [[SampleRow(seeing_task(s.task), s.doc_id, s.prediction, s.target, s.score)
              for s in _samples(store, run, [blind_task(n) for n in names])] for run in runs]
    blind_scores = scores_on(aligned.items, blind) if any(blind) else None
    differences = [d for d in config_differences(labels, [r.config for r in runs]) if d.key not in REPLICATE_KEYS]
    uncontrolled = len({controlled_key(r) for r in runs}) > 1 or bool(differences)
    if uncontrolled and not allow_uncontrolled:
        what = "; ".join(d.text() for d in differences) or "their controlled hashes differ though the stored configs agree"
        raise HarnessError(f"the runs are not a controlled comparison, they differ in more than the backbone: {what}",
                           "rerun them with the same settings, or pass --allow-uncontrolled to compare anyway")
    return CompareContext(
        task=task, task_tags=tuple(spec.capability_tags) if spec else (), runs=runs, labels=labels,
        generations=[generations[r.run_id] for r in runs], items=aligned.items, scores=first.scores[:, keep],
        confidence=first.confidence[:, keep], extras=[first.extras[j] for j in keep],
        metrics=[{m.metric: m for m in store.metrics(r.run_id) if m.task in names} for r in runs],
        predictions=[[row[j] for j in keep] for row in first.predictions], targets=[first.targets[j] for j in keep],
        blind=blind_scores, replicates=[scores_on(aligned.items, reps) for reps in replicate_samples],
        sample_metrics=[{k: v[keep] for k, v in m.items()} for m in first.sample_metrics],
        replicate_runs=replicate_runs, differences=differences, uncontrolled=uncontrolled,
        dropped_items=aligned.dropped, out_dir=out_dir, n_resamples=n_resamples,
        seed=seed,
    )


def _samples(store: ResultsStore, run: RunRecord, names: list[str]) -> list[SampleRow]:
    """The run's samples under the first of ``names`` that has any (harness or lmms-eval task names)."""
    for name in names:
        rows = store.samples(run.run_id, name)
        if rows:
            return rows
    return []
