"""PNG plots for ``harness compare`` (matplotlib, Agg backend), each written to a temporary name and
renamed so that a crash never leaves half an image."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from harness.analysis.stats.calibration import ReliabilityBin


def _figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (6, 4)):
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=size, squeeze=False)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    os.close(fd)
    try:
        fig.tight_layout()
        fig.savefig(tmp, dpi=100, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)


def reliability_diagrams(bins: dict[str, list[ReliabilityBin]], task: str, path: Path) -> None:
    """One panel per backbone: accuracy per confidence bin against the diagonal of perfect calibration."""
    fig, axes = _figure(1, len(bins), (3.2 * len(bins), 3.4))
    for ax, (label, rows) in zip(axes[0], bins.items()):
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
        ax.bar([(b.low + b.high) / 2 for b in rows], [b.accuracy for b in rows],
               width=[b.high - b.low for b in rows], edgecolor="black", alpha=0.7, label="accuracy")
        ax.plot([b.mean_confidence for b in rows], [b.accuracy for b in rows], "o", color="C3", markersize=3)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", title=label)
    axes[0][0].set_ylabel("accuracy")
    fig.suptitle(f"Reliability diagrams: {task}")
    _save(fig, path)


def overlap_chart(pairs: list[dict[str, Any]], task: str, path: Path) -> None:
    """Stacked bars per pair: solved by both, only A, only B, neither."""
    fig, axes = _figure(1, 1, (7, 0.8 + 0.6 * len(pairs)))
    ax = axes[0][0]
    parts = [("both", "C2"), ("only_a", "C0"), ("only_b", "C1"), ("neither", "lightgrey")]
    names = [f"{p['a']} vs {p['b']}" for p in pairs]
    left = [0] * len(pairs)
    for key, colour in parts:
        values = [p[key] for p in pairs]
        ax.barh(names, values, left=left, color=colour, label=key.replace("_", " "))
        left = [l + v for l, v in zip(left, values)]
    ax.set_xlabel("items")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=4, fontsize=8)
    ax.set_title(f"Which items each pair solves: {task}")
    _save(fig, path)


def layer_curves(curves: dict[str, list[float]], title: str, ylabel: str, path: Path) -> None:
    """One line per backbone against relative depth (layer / number of layers), so depths can differ."""
    fig, axes = _figure(1, 1, (6, 4))
    ax = axes[0][0]
    for label, values in curves.items():
        n = max(len(values) - 1, 1)
        ax.plot([i / n for i in range(len(values))], values, marker="o", markersize=3, label=label)
    ax.set(xlabel="relative depth", ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    _save(fig, path)
