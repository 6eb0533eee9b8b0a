"""Throughput accounting: model FLOPs per step, device peaks, and strict-JSON metrics."""
from __future__ import annotations

import json

import pytest

from harness_plugins.recipes.llava15.metrics import MetricsLog, flops_model_of, json_safe, peak_flops_of
from harness_plugins.recipes.llava15.stage import set_trainable


@pytest.mark.parametrize("name, peak", [
    ("NVIDIA H100 PCIe", 756e12), ("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 NVL", 835e12),
    ("NVIDIA H200", 989e12), ("NVIDIA A100-SXM4-80GB", 312e12), ("NVIDIA GeForce RTX 4090", None),
])
def test_peak_flops_tells_h100_pcie_from_sxm(name, peak):
    assert peak_flops_of(name) == peak


def _numel(model, part):
    return sum(p.numel() for n, p in model.named_parameters() if part in n)


def test_align_counts_the_frozen_llm_as_forward_and_input_gradient(tiny):
    model = set_trainable(tiny.build_tiny_llava(), train_llm=False, lora=None)
    flops = flops_model_of(model)
    embedding = model.get_input_embeddings().weight.numel()
    llm = _numel(model, "language_model") + _numel(model, "lm_head") - embedding
    projector, vision = _numel(model, "multi_modal_projector"), _numel(model, "vision_tower")
    assert (flops.llm_trained, flops.llm_frozen, flops.projector_trained, flops.vision_params) == (0, llm, projector, vision)
    tokens, seq_len, images = 40, 12, 4
    attention = 12 * 2 * 32 * seq_len * tokens / 2
    image_part = (6 * projector + 2 * vision) * tiny.IMAGE_TOKENS * images
    assert flops.step_flops(tokens=tokens, seq_len=seq_len, images=images) == pytest.approx(
        4 * llm * tokens + attention + image_part)


def test_finetune_counts_the_trained_llm_without_the_embedding_lookup(tiny):
    model = set_trainable(tiny.build_tiny_llava(), train_llm=True, lora=None)
    flops = flops_model_of(model)
    embedding = model.get_input_embeddings().weight.numel()
    assert flops.llm_trained == _numel(model, "language_model") + _numel(model, "lm_head") - embedding
    assert flops.llm_frozen == 0


def test_metrics_are_strict_json_with_null_for_non_finite_numbers(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl", enabled=True)
    log.write({"stage": "align", "step": 1, "loss": 1.5, "lr": float("inf"), "tokens_per_s": float("nan")})
    line = (tmp_path / "metrics.jsonl").read_text().strip()
    assert "Infinity" not in line and "NaN" not in line
    assert json.loads(line) == {"stage": "align", "step": 1, "loss": 1.5, "lr": None, "tokens_per_s": None}
    assert json_safe({"a": [1.0, float("-inf")]}) == {"a": [1.0, None]}
