"""`harness data build`: (re)create the scene-world datasets with a progress bar."""
from __future__ import annotations

from pathlib import Path

import click


@click.group("data")
def data() -> None:
    """Training and evaluation data: the synthetic scene world."""


@data.command("build")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the scene stream.")
@click.option("--align", "n_align", type=click.IntRange(1), default=3000, show_default=True,
              help="Stage-1 image-caption pairs.")
@click.option("--instruct", "n_instruct", type=click.IntRange(1), default=3000, show_default=True,
              help="Stage-2 instruction conversations.")
@click.option("--eval", "n_eval", type=click.IntRange(1), default=300, show_default=True,
              help="Items per evaluation task.")
@click.option("--image-size", type=click.IntRange(16, 1024), default=64, show_default=True,
              help="Image side in pixels.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of builds (default $HARNESS_HOME/data/scene).")
@click.option("--rebuild", is_flag=True, help="Build again even if a current build exists.")
def build(seed: int, n_align: int, n_instruct: int, n_eval: int, image_size: int, root: Path | None,
          rebuild: bool) -> None:
    """Build (or reuse) the scene datasets and print the folder."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harness.cli.output import console
    from harness_plugins.scene.dataset import SceneDataSizes, default_root, ensure_scene_data

    sizes = SceneDataSizes(align=n_align, instruct=n_instruct, eval=n_eval, image_size=image_size)
    columns = (TextColumn("{task.description:>22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console(stderr=True), transient=False) as bar:
        bars: dict[str, int] = {}

        def report(split: str, done: int, total: int) -> None:
            if split not in bars:
                bars[split] = bar.add_task(split, total=total)
            bar.update(bars[split], completed=done)

        out = ensure_scene_data(root or default_root(), seed, sizes, progress=report, rebuild=rebuild)
    click.echo(str(out))
