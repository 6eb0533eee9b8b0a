"""Evaluation through lmms-eval: the ``harness_vlm`` lmms model (batched generation, confidences,
hidden states, a resumable per-sample cache) and :func:`evaluate`, which runs lmms-eval's own
evaluator in-process and returns the store's records.

Nothing heavy is imported here; import ``harness.evaluation.runner`` for ``evaluate``.
"""
