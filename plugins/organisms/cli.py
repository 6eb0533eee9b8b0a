"""`harness organisms build`: rebuild the model organisms (import-light; the builder loads on use)."""
from __future__ import annotations

from pathlib import Path

import click


@click.group()
def organisms() -> None:
    """The tiny model organisms shipped as the default backbones and vision encoder."""


@organisms.command("build")
@click.option("--quick", is_flag=True, help="Tiny token budgets (a minute or two), for tests.")
@click.option("--only", multiple=True, metavar="NAME", help="Build only these (llama1, llama2, llama3, clip); repeatable.")
@click.option("--seed", default=0, show_default=True, help="Seed of the corpus, tokenizers and weights.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write under this folder instead of the installed package.")
@click.option("--threads", default=1, show_default=True,
              help="torch CPU threads of the LLaMA builds (the shipped cards' rebuilds are bit-identical at 1).")
@click.option("--jobs", type=click.IntRange(1, 2), default=2, show_default=True,
              help="2: build the CLIP organism (one thread) in a second process beside the LLaMAs.")
def build(quick: bool, only: tuple[str, ...], seed: int, out: Path | None, threads: int, jobs: int) -> None:
    """Train the organisms' tokenizers and pretrain them (seeded, deterministic)."""
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .build import PACKAGED, build_organisms

    torch.set_num_threads(threads)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("loss {task.fields[loss]}"))
    tasks: dict[str, int] = {}
    with Progress(*columns) as bar:
        def progress(name: str, done: int, total: int, loss: float | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"pretrain {name}", total=total, loss="-")
            bar.update(tasks[name], completed=done, loss=f"{loss:.3f}" if loss is not None else "-")

        records = build_organisms(out or PACKAGED, only, seed, quick, progress=progress, jobs=jobs)
    for record in records:
        if "pretrain" in record:
            p = record["pretrain"]
            click.echo(f"{record['organism']}: vocab {record['vocab_size']}, {record['params']:,} params, "
                       f"{p['tokens']:,} tokens, loss {p['first_loss']:.2f} -> {p['final_loss']:.2f}, "
                       f"{p['seconds']:.0f}s")
        else:
            click.echo(f"{record['organism']}: built")
    click.echo(f"written to {out or PACKAGED}")
