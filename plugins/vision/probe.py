"""Linear probes: does a frozen vision tower's output carry each object's colour, shape, size and position?

For every object of a held-out scene the probe reads the tower's feature-layer patch tokens under the
object (the patches whose centre lies inside its box, at least the one holding its centre), averages
them, and a logistic regression (scikit-learn) fitted on other scenes predicts the attribute. The
accuracy on held-out scenes, beside the majority-class rate, says whether the information reaches the
projector at all: the first link of the chain the VLM needs. ``per_patch=True`` probes each single patch
token under one object instead: what a causal LLM, which cannot pool an object's patches before it must
bind them, has to work with (``benchmarks/patch_readout.py --oracle-noise`` shows how accurate it must be).

    probe_vision_tower(Path("plugins/organisms/clip"))   # {"colour": {"accuracy": .., "chance": ..}, ...}
    probe_vision_tower(Path("plugins/organisms/clip"), per_patch=True)
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

ATTRIBUTES: tuple[str, ...] = ("colour", "shape", "size", "region")


def _object_patches(obj: Any, grid: int) -> list[int]:
    """Indices (row-major) of the grid patches under ``obj``'s box; never empty."""
    x0, y0, x1, y1 = obj.bbox
    cells = [r * grid + c for r in range(grid) for c in range(grid)
             if x0 <= (c + 0.5) / grid <= x1 and y0 <= (r + 0.5) / grid <= y1]
    centre = min(int(obj.y * grid), grid - 1) * grid + min(int(obj.x * grid), grid - 1)
    return cells or [centre]


def single_owner_patches(scene: Any, grid: int) -> dict[int, Any]:
    """{patch index: object} for the patches under exactly one of ``scene``'s objects."""
    owners: dict[int, list[Any]] = {}
    for obj in scene.objects:
        for patch in _object_patches(obj, grid):
            owners.setdefault(patch, []).append(obj)
    return {patch: objs[0] for patch, objs in owners.items() if len(objs) == 1}


def _labels(obj: Any) -> dict[str, str]:
    return {"colour": obj.colour, "shape": obj.shape, "size": obj.size, "region": obj.region}


def object_features(tower: Any, processor: Any, scenes: list[Any], feature_layer: int = -2,
                    batch_size: int = 64, per_patch: bool = False) -> tuple[Any, list[dict[str, str]]]:
    """(features [n_objects, hidden], labels per object) for every object of ``scenes``; ``per_patch``:
    (features [n_patches, hidden], labels of the patch's object) for every patch under exactly one object,
    each patch token on its own (what a reader sees without pooling over the object's box)."""
    import numpy as np
    import torch

    from harness_plugins.scene.world import render

    from .organism import pixel_values

    image_size = int(tower.config.image_size)
    grid = image_size // int(tower.config.patch_size)
    feats: list[Any] = []
    labels: list[dict[str, str]] = []
    for start in range(0, len(scenes), batch_size):
        chunk = scenes[start:start + batch_size]
        pixels = pixel_values([render(s) for s in chunk], processor, image_size)
        with torch.no_grad():
            hidden = tower(pixel_values=pixels, output_hidden_states=True).hidden_states[feature_layer]
        patches = hidden[:, 1:, :].numpy()  # CLS dropped, as LLaVA feeds the projector
        for scene, grid_feats in zip(chunk, patches):
            if per_patch:
                for patch, obj in sorted(single_owner_patches(scene, grid).items()):
                    feats.append(grid_feats[patch])
                    labels.append(_labels(obj))
                continue
            for obj in scene.objects:
                feats.append(grid_feats[_object_patches(obj, grid)].mean(axis=0))
                labels.append(_labels(obj))
    return np.stack(feats), labels


def probe_features(train: tuple[Any, list[dict[str, str]]], heldout: tuple[Any, list[dict[str, str]]]
                   ) -> dict[str, dict[str, float]]:
    """Held-out accuracy of a logistic-regression probe per attribute, with the majority-class rate."""
    from collections import Counter

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    (x_train, y_train), (x_test, y_test) = train, heldout
    results: dict[str, dict[str, float]] = {}
    for attribute in ATTRIBUTES:
        fit_labels = [y[attribute] for y in y_train]
        test_labels = [y[attribute] for y in y_test]
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        probe.fit(x_train, fit_labels)
        majority = Counter(fit_labels).most_common(1)[0][0]
        results[attribute] = {
            "accuracy": round(float(probe.score(x_test, test_labels)), 4),
            "chance": round(sum(label == majority for label in test_labels) / len(test_labels), 4),
        }
    return results


def probe_vision_tower(folder: Path, train_scenes: int = 600, heldout_scenes: int = 300, seed: int = 0,
                       feature_layer: int = -2, per_patch: bool = False) -> dict[str, Any]:
    """Probe the tower in ``folder`` on scenes from a stream no organism build draws from; ``per_patch``:
    single patch tokens under one object instead of each object's pooled tokens (``heldout_patches``)."""
    import torch
    from transformers import CLIPVisionModel

    from harness_plugins.scene.world import generate_scene

    from .images import processor_from_folder

    tower = CLIPVisionModel.from_pretrained(str(folder), dtype=torch.float32).eval()
    processor = processor_from_folder(Path(folder), int(tower.config.image_size))
    rng = random.Random(f"vision-probe:{seed}")
    scenes = [generate_scene(rng, image_size=int(tower.config.image_size)) for _ in range(train_scenes + heldout_scenes)]
    train = object_features(tower, processor, scenes[:train_scenes], feature_layer, per_patch=per_patch)
    heldout = object_features(tower, processor, scenes[train_scenes:], feature_layer, per_patch=per_patch)
    return {"train_scenes": train_scenes, "heldout_scenes": heldout_scenes,
            f"heldout_{'patches' if per_patch else 'objects'}": len(heldout[1]),
            "feature_layer": feature_layer, "attributes": probe_features(train, heldout)}
