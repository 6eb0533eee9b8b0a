"""How far representations move under a perturbation of the input, per layer."""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist


def cosine_movement(clean: np.ndarray, perturbed: np.ndarray) -> float:
    """Mean over items of 1 - cos(h(x), h(x')); ``clean`` and ``perturbed`` are items x hidden."""
    clean, perturbed = np.asarray(clean, dtype=float), np.asarray(perturbed, dtype=float)
    norms = np.linalg.norm(clean, axis=1) * np.linalg.norm(perturbed, axis=1)
    cos = np.sum(clean * perturbed, axis=1) / np.where(norms == 0, 1.0, norms)
    return float(np.mean(1.0 - cos))


def relative_movement(clean: np.ndarray, perturbed: np.ndarray) -> float:
    """Mean ||h(x) - h(x')|| divided by the mean distance between the clean states of different items.

    Scale-free, so backbones with different hidden sizes and norms compare: 0 means the perturbation
    does not move the representation, 1 means it moves it as far as swapping in another item would.
    """
    clean, perturbed = np.asarray(clean, dtype=float), np.asarray(perturbed, dtype=float)
    if len(clean) < 2:
        raise ValueError("relative movement needs at least two items")
    spread = float(np.mean(pdist(clean)))
    moved = float(np.mean(np.linalg.norm(clean - perturbed, axis=1)))
    return moved / spread if spread > 0 else float("nan")


def relative_movement_per_item(clean: np.ndarray, perturbed: np.ndarray) -> np.ndarray:
    """Per item ``||h(x) - h(x')||`` over the mean distance between clean states of different items (its
    mean is :func:`relative_movement`)."""
    clean, perturbed = np.asarray(clean, dtype=float), np.asarray(perturbed, dtype=float)
    if len(clean) < 2:
        raise ValueError("relative movement needs at least two items")
    spread = float(np.mean(pdist(clean)))
    moved = np.linalg.norm(clean - perturbed, axis=1)
    return moved / spread if spread > 0 else np.full(len(clean), np.nan)
