"""The tiny CLIP organism: a small ViT trained contrastively (CLIP's loss) on the scene world's
images and descriptions with a small text tower, seeded and deterministic, plus a region-phrase
loss on the patch tokens LLaVA reads (:mod:`.region_loss`). Only the vision tower and its image
processor ship; the text tower and its word-level vocabulary are build-time only.

    build_clip_organism(Path("plugins/organisms/clip"), seed=0, quick=False)   # harness organisms build
"""
from __future__ import annotations

import json
import math
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.runs import replace_dir

BUILD_COMMAND = "harness organisms build --only clip"
THREADS = 1  # fixed, so the build is bit-for-bit repeatable on a given machine; one core, the LLaMAs build on the other


@dataclass(frozen=True)
class ClipOrganismSpec:
    """Architecture and training budget of the organism (full and quick builds differ in budget only)."""

    image_size: int = 64  # the scene world renders 64-pixel images
    patch_size: int = 8  # -> 64 patch tokens (+ CLS)
    hidden_size: int = 64
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 256
    text_hidden: int = 64
    text_layers: int = 2
    text_max_len: int = 128
    projection_dim: int = 64
    batch_size: int = 64
    learning_rate: float = 2e-3
    warmup_steps: int = 40
    # Probe (held-out objects) by budget, pooled region loss: 250 steps shape 0.69, 500 0.81, 1000 0.90.
    # Per-patch region loss (each single patch token, what a causal reader binds from), per-patch shape:
    # pooled 1000 steps 0.70, per patch 2000 steps 0.89, 3000 steps 0.92 (model_cards/clip.yaml).
    steps: int = 3000
    train_scenes: int = 4000
    heldout_scenes: int = 256
    feature_layer: int = -2  # the hidden state LLaVA's projector reads; the region loss trains it
    region_weight: float = 1.0  # weight of the region-phrase loss (0: image-level CLIP loss only)
    region_per_patch: bool = True  # the region loss on each patch under an object, not on their mean
    # (size, colour, shape, region) weights of marginal terms added to the region loss: the joint 432-way phrase
    # softmax let colour carry it; shape x2 lifts per-patch shape 0.921 -> 0.971 at the same steps (model card).
    region_factor_weights: tuple[float, ...] | None = (0, 0, 2, 0)


QUICK = ClipOrganismSpec(steps=4, train_scenes=96, heldout_scenes=32, batch_size=32, warmup_steps=1)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+|[.,]", text.lower())


class WordVocab:
    """Word-level ids for the text tower (build-time only): 0 pad, 1 start, 2 end, then words."""

    def __init__(self, texts: list[str]):
        words = sorted({w for t in texts for w in _words(t)})
        self.ids = {w: i + 3 for i, w in enumerate(words)}

    def __len__(self) -> int:
        return len(self.ids) + 3

    def encode(self, texts: list[str], max_len: int) -> tuple[Any, Any]:
        import torch

        ids = torch.zeros(len(texts), max_len, dtype=torch.long)
        mask = torch.zeros(len(texts), max_len, dtype=torch.long)
        for row, text in enumerate(texts):
            seq = [1] + [self.ids[w] for w in _words(text)][: max_len - 2] + [2]
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        return ids, mask


def scene_samples(n: int, seed: int, stream: str) -> tuple[list[Any], list[str], list[Any]]:
    """``n`` (image, description, scene) triples from the scene world; ``stream`` keeps train and
    held-out apart."""
    from harness_plugins.scene.world import describe, generate_scene, render

    rng = random.Random(f"clip-organism:{stream}:{seed}")  # a string seed hashes deterministically
    scenes = [generate_scene(rng) for _ in range(n)]
    return [render(s) for s in scenes], [describe(s) for s in scenes], scenes


def scene_pairs(n: int, seed: int, stream: str) -> tuple[list[Any], list[str]]:
    """``n`` (image, description) pairs from the scene world; ``stream`` keeps train and held-out apart."""
    images, texts, _ = scene_samples(n, seed, stream)
    return images, texts


def pixel_values(images: list[Any], processor: Any, image_size: int) -> Any:
    """The processor's output; images already ``image_size`` square (the scene world's) skip the
    no-op pad and resize and are only rescaled and normalized, the same values ten times faster."""
    import numpy as np
    import torch

    if any(img.size != (image_size, image_size) for img in images):
        return processor(images=images, return_tensors="pt")["pixel_values"]
    pixels = torch.from_numpy(np.stack([np.asarray(img.convert("RGB"), dtype=np.float32) for img in images]))
    pixels = pixels.permute(0, 3, 1, 2) * processor.rescale_factor
    mean = torch.tensor(processor.image_mean, dtype=torch.float32)[:, None, None]
    std = torch.tensor(processor.image_std, dtype=torch.float32)[:, None, None]
    return (pixels - mean) / std


def clip_config(spec: ClipOrganismSpec, vocab_size: int) -> Any:
    from transformers import CLIPConfig

    vision = dict(hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
                  num_hidden_layers=spec.num_layers, num_attention_heads=spec.num_heads,
                  image_size=spec.image_size, patch_size=spec.patch_size)
    text = dict(vocab_size=vocab_size, hidden_size=spec.text_hidden, intermediate_size=4 * spec.text_hidden,
                num_hidden_layers=spec.text_layers, num_attention_heads=4, max_position_embeddings=spec.text_max_len,
                pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return CLIPConfig(vision_config=vision, text_config=text, projection_dim=spec.projection_dim)


def retrieval_accuracy(model: Any, pixels: Any, ids: Any, mask: Any) -> float:
    """Image -> text top-1 accuracy among the held-out pairs (chance: 1 / number of pairs)."""
    import torch

    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, pixel_values=pixels)
    return float((out.logits_per_image.argmax(dim=1) == torch.arange(len(ids))).float().mean())


def train(spec: ClipOrganismSpec, seed: int,
          progress: Callable[[int, int, float], None] | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Train the two-tower model; returns (model, image processor, metrics)."""
    import torch
    from transformers import CLIPModel

    from .images import image_processor

    from .region_loss import object_phrases, region_loss, region_targets

    processor = image_processor(spec.image_size)
    images, texts, scenes = scene_samples(spec.train_scenes, seed, "train")
    held_images, held_texts = scene_pairs(spec.heldout_scenes, seed, "heldout")
    _, phrases = object_phrases()
    vocab = WordVocab(texts + held_texts + list(phrases))
    pixels = pixel_values(images, processor, spec.image_size)
    ids, mask = vocab.encode(texts, spec.text_max_len)
    targets = region_targets(scenes)
    phrase_ids, phrase_mask = vocab.encode(list(phrases), spec.text_max_len)
    width = int(phrase_mask.sum(dim=1).max())
    phrase_ids, phrase_mask = phrase_ids[:, :width], phrase_mask[:, :width]
    grid = spec.image_size // spec.patch_size
    held_pixels = pixel_values(held_images, processor, spec.image_size)
    held_ids, held_mask = vocab.encode(held_texts, spec.text_max_len)

    torch.manual_seed(seed)
    model = CLIPModel(clip_config(spec, len(vocab)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=0.1)

    def lr_at(step: int) -> float:  # linear warmup, cosine decay
        if step < spec.warmup_steps:
            return (step + 1) / spec.warmup_steps
        done = (step - spec.warmup_steps) / max(1, spec.steps - spec.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * done))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    order = torch.Generator().manual_seed(seed)
    model.eval()
    before = retrieval_accuracy(model, held_pixels, held_ids, held_mask)
    model.train()
    losses, perm, cursor = [], torch.randperm(len(ids), generator=order), 0
    for _ in range(spec.steps):
        if cursor + spec.batch_size > len(perm):
            perm, cursor = torch.randperm(len(ids), generator=order), 0
        batch = perm[cursor: cursor + spec.batch_size]
        cursor += spec.batch_size
        width = int(mask[batch].sum(dim=1).max())  # pad to the batch's longest text, not text_max_len
        out = model(input_ids=ids[batch, :width], attention_mask=mask[batch, :width], pixel_values=pixels[batch],
                    return_loss=True, output_hidden_states=True)
        loss = out.loss
        if spec.region_weight:
            hidden = out.vision_model_output.hidden_states[spec.feature_layer]
            loss = loss + spec.region_weight * region_loss(
                model, hidden, [scenes[i] for i in batch.tolist()], [targets[i] for i in batch.tolist()],
                phrase_ids, phrase_mask, grid, per_patch=spec.region_per_patch,
                factor_weights=spec.region_factor_weights)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(len(losses), spec.steps, losses[-1])
    model.eval()
    after = retrieval_accuracy(model, held_pixels, held_ids, held_mask)
    tail = losses[-10:]
    metrics = {"first_loss": round(losses[0], 4), "final_loss": round(sum(tail) / len(tail), 4),
               "heldout_retrieval_top1_before": round(before, 4), "heldout_retrieval_top1": round(after, 4),
               "heldout_pairs": spec.heldout_scenes, "text_vocab": len(vocab)}
    return model, processor, metrics


def build_clip_organism(out_dir: Path, seed: int = 0, quick: bool = False,
                        progress: Callable[[int, int, float], None] | None = None) -> dict[str, Any]:
    """Train the organism and write its vision tower + image processor to ``out_dir`` (atomically).

    ``progress(step, steps, loss)`` is called after every training step (for a progress bar).
    Returns the build record, also saved as ``build.json`` next to the weights.
    """
    import torch
    from transformers import CLIPVisionModel
    from transformers.utils import logging as hf_logging

    spec = QUICK if quick else ClipOrganismSpec()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    start = time.perf_counter()
    try:
        model, processor, metrics = train(spec, seed, progress)
        # Keep only the vision tower: load it back the way users will (from the two-tower folder).
        two_tower = tmp / "two_tower"
        model.save_pretrained(str(two_tower))
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the text-tower weights it skips are expected, not news
        try:
            tower = CLIPVisionModel.from_pretrained(str(two_tower), dtype=torch.float32)
        finally:
            hf_logging.set_verbosity(verbosity)
        shutil.rmtree(two_tower)
        tower.save_pretrained(str(tmp))
        processor.save_pretrained(str(tmp))
        from .probe import probe_vision_tower

        probe = probe_vision_tower(tmp, seed=seed) if not quick else None
        probe_per_patch = probe_vision_tower(tmp, seed=seed, per_patch=True) if not quick else None
        params = sum(p.numel() for p in tower.parameters())
        record = {
            "organism": "clip", "seed": seed, "mode": "quick" if quick else "full",
            "command": f"{BUILD_COMMAND}{' --quick' if quick else ''} --seed {seed}",
            "params": params, "weights_bytes": (tmp / "model.safetensors").stat().st_size,
            "num_image_tokens": (spec.image_size // spec.patch_size) ** 2, "threads": THREADS,
            "build_seconds": round(time.perf_counter() - start, 1), "training": metrics, "probe": probe,
            "probe_per_patch": probe_per_patch,
            "spec": asdict(spec),
        }
        (tmp / "build.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        replace_dir(tmp, out_dir, shareable=True)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        if tmp.exists():
            shutil.rmtree(tmp)
    return record
