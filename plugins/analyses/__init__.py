"""Built-in analysis plugins and the ``harness compare`` command.

Import-light on purpose: this entry-point module only registers descriptors and the click command;
numpy, scipy, matplotlib and the analyses themselves are imported when ``compare`` runs.
"""
from __future__ import annotations

from pathlib import Path

import click

from harness import hookimpl
from harness.specs import AnalysisSpec

ANALYSES = (
    AnalysisSpec("controlled", "harness_plugins.analyses.controlled:analyze",
                 description="Controlled comparison: the runs must differ in the backbone only"),
    AnalysisSpec("competence", "harness_plugins.analyses.competence:analyze",
                 description="Competence gate: each run against majority-answer, constant-answer and blind baselines"),
    AnalysisSpec("accuracy", "harness_plugins.analyses.accuracy:analyze",
                 description="Accuracy with exact intervals (or over seeds) per group; pairwise tests, Holm-corrected"),
    AnalysisSpec("overlap", "harness_plugins.analyses.overlap:analyze",
                 description="Different questions, or more questions? Overlap against the seed null, with verdicts"),
    AnalysisSpec("calibration", "harness_plugins.analyses.calibration:analyze", needs=("confidence",),
                 description="Calibration: ECE (equal-width, equal-mass), Brier, AUROC, reliability diagrams"),
    AnalysisSpec("stability", "harness_plugins.analyses.stability:analyze", needs=("hidden_states",),
                 description="Representation stability under perturbations; layer-to-layer debiased CKA"),
    AnalysisSpec("emergent", "harness_plugins.analyses.emergent:analyze",
                 description="Emergent capabilities: absent in older generations, significantly present in a newer one"),
    AnalysisSpec("vision_bound", "harness_plugins.analyses.vision_bound:analyze",
                 description="Vision-bound groups: every backbone uses the image, and none differs beyond a margin"),
)
FORMATS = ("table", "markdown", "json")


@hookimpl
def register_analyses(register):
    for spec in ANALYSES:
        register(spec)


@click.command("compare")
@click.argument("words", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the PNG plots (default: the compare folder under HARNESS_HOME/compare/).")
@click.option("--allow-uncontrolled", is_flag=True,
              help="Compare runs that differ in more than the backbone; every table then says so.")
@click.option("--analyses", "analyses", default=None,
              help="Comma-separated analyses to run (default: all; those whose data the runs lack are skipped).")
@click.option("--resamples", type=click.IntRange(min=100), default=2000, show_default=True,
              help="Bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
def compare_cmd(words, fmt, plots, allow_uncontrolled, analyses, resamples, seed):
    """Why the rows of the leaderboard differ: task=NAME [backbones=A,B,...] or runs=ID,ID; with neither,
    the whole study: the paper's findings on every task, then each task's detail.

    \b
      harness compare
      harness compare task=vqa
      harness compare task=vqa backbones=llama2,llama3 --format markdown
      harness compare task=vqa --analyses overlap,calibration --plots plots/
    """
    from harness.cli.output import console, print_json

    from harness_plugins.analyses.command import run_compare, study_markdown
    from harness_plugins.analyses.report import print_report, print_study, to_json, to_markdown
    from harness_plugins.analyses.study import StudyReport

    names = [a.strip() for a in analyses.split(",") if a.strip()] if analyses else None
    report = run_compare(words, plots, allow_uncontrolled, names, resamples, seed)
    if isinstance(report, StudyReport):
        if fmt == "json":
            print_json(report.to_json())
        elif fmt == "markdown":
            click.echo(study_markdown(report))
        else:
            print_study(report, console())
        return
    if fmt == "json":
        print_json(to_json(report))
    elif fmt == "markdown":
        click.echo(to_markdown(report))
    else:
        print_report(report, console())


@hookimpl
def register_commands(cli):
    cli.add_command(compare_cmd)
