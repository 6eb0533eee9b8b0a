"""The ``lmms_eval.models`` entry point: tells lmms-eval where the ``harness_vlm`` class lives.

A callable, so that reading the entry point imports nothing until lmms-eval asks.
"""
from __future__ import annotations

MODEL_ID = "harness_vlm"
CLASS_PATH = "harness.evaluation.model.HarnessVLM"


def manifests():
    from lmms_eval.models.registry_v2 import ModelManifest

    return [ModelManifest(model_id=MODEL_ID, simple_class_path=CLASS_PATH)]
