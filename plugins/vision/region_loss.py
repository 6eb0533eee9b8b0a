"""Region-phrase alignment for the CLIP organism (RegionCLIP, Zhong et al., CVPR 2022): each object's
patch tokens, pooled at the layer LLaVA reads, are matched contrastively against the phrases of every
possible object ("A small red circle at the top left.").

Why: LLaVA reads the tower's patch tokens, not its image embedding. Real CLIP's patch tokens carry local
semantics from training at scale; a whole-image contrastive loss at organism scale leaves them knowing
colour but little shape (probe: shape 0.62 against 0.26 chance, whatever the steps, hard negatives or
resolution tried). Matching pooled regions to object phrases trains exactly the features the projector
reads, through the same projection and text tower as the image-level loss, with no parameter added.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from .probe import _object_patches


@lru_cache(maxsize=1)
def object_phrases() -> tuple[tuple[tuple[str, str, str, str], ...], tuple[str, ...]]:
    """Every (size, colour, shape, region) an object can have, and its sentence as descriptions word it."""
    from harness_plugins.scene.language import REGIONS
    from harness_plugins.scene.world import COLOURS, SHAPES, SIZES, Scene, SceneObject, describe

    centres = {}
    for x in (0.17, 0.5, 0.83):
        for y in (0.17, 0.5, 0.83):
            centres[SceneObject("circle", "red", "small", x, y).region] = (x, y)
    assert set(centres) == set(REGIONS)
    keys, texts = [], []
    for size in SIZES:
        for colour in COLOURS:
            for shape in SHAPES:
                for region, (x, y) in centres.items():
                    keys.append((size, colour, shape, region))
                    sentence = describe(Scene(objects=(SceneObject(shape, colour, size, x, y),)))
                    texts.append(sentence.split(". ", 1)[1])  # drop "There is one object."
    return tuple(keys), tuple(texts)


def region_targets(scenes: list[Any]) -> list[list[int]]:
    """Per scene, the phrase index of each of its objects."""
    keys, _ = object_phrases()
    index = {k: i for i, k in enumerate(keys)}
    return [[index[(o.size, o.colour, o.shape, o.region)] for o in scene.objects] for scene in scenes]


FACTORS: tuple[str, ...] = ("size", "colour", "shape", "region")  # the order of object_phrases' keys


@lru_cache(maxsize=1)
def factor_groups() -> tuple[tuple[int, ...], ...]:
    """Per factor (:data:`FACTORS`), the value index of every phrase: phrases sharing a shape share a group."""
    keys, _ = object_phrases()
    groups = []
    for f in range(len(FACTORS)):
        values = sorted({k[f] for k in keys})
        groups.append(tuple(values.index(k[f]) for k in keys))
    return tuple(groups)


def factor_loss(logits: Any, labels: Any, weights: tuple[float, ...]) -> Any:
    """Weighted cross-entropy of each factor's marginal: the phrase softmax summed over the phrases that
    share the factor's value (no parameter added). The joint 432-way loss lets the easy factor (colour)
    carry most of its gradient; a marginal term makes a hard factor (shape) count on its own."""
    import torch
    import torch.nn.functional as F

    total = logits.new_zeros(())
    for weight, group in zip(weights, factor_groups()):
        if not weight:
            continue
        index = torch.tensor(group)
        n = int(index.max()) + 1
        marginal = torch.stack([torch.logsumexp(logits[:, index == v], dim=1) for v in range(n)], dim=1)
        total = total + weight * F.cross_entropy(marginal, index[labels])
    return total


def region_loss(model: Any, hidden: Any, scenes: list[Any], targets: list[list[int]], phrase_ids: Any,
                phrase_mask: Any, grid: int, per_patch: bool = False,
                factor_weights: tuple[float, ...] | None = None) -> Any:
    """Cross-entropy of each object's pooled patch tokens (``hidden``: [B, 1 + grid^2, d] at the feature
    layer) against all object phrases, through the tower's post-layernorm and visual projection.

    ``per_patch``: every patch under an object is matched to its object's phrase on its own, so that each
    patch token carries its whole object (a causal LLM reading the patches cannot gather an object's shape
    from several patches before it must bind it; ``benchmarks/patch_readout.py``)."""
    import torch
    import torch.nn.functional as F

    pooled, labels = [], []
    for row, (scene, target) in enumerate(zip(scenes, targets)):
        for obj, phrase in zip(scene.objects, target):
            patches = hidden[row, 1:][_object_patches(obj, grid)]
            pooled.extend(patches if per_patch else [patches.mean(dim=0)])
            labels.extend([phrase] * (len(patches) if per_patch else 1))
    regions = model.visual_projection(model.vision_model.post_layernorm(torch.stack(pooled)))
    text = model.get_text_features(input_ids=phrase_ids, attention_mask=phrase_mask).pooler_output
    logits = model.logit_scale.exp() * F.normalize(regions, dim=-1) @ F.normalize(text, dim=-1).T
    labels_t = torch.tensor(labels)
    loss = F.cross_entropy(logits, labels_t)
    if factor_weights:
        loss = loss + factor_loss(logits, labels_t, factor_weights)
    return loss
