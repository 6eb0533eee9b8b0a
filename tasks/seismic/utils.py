"""lmms-eval adapters for the seismic tasks: visuals, prompts, per-sample results and aggregations.

The scoring lives in :mod:`harness_plugins.seismic.metrics`. What the scene tasks already do the same
way is reused from their adapters (``harness_tasks/scene/utils.py``): the visual and prompt, the
caption metrics and the micro-F1 aggregations of a description (the per-sample counts here have the
same keys), and the whole coordinate task (same JSON schema, same metrics).
"""
from __future__ import annotations

import json

from harness_plugins.seismic import metrics
from harness_plugins.seismic.model import Section
from harness_tasks.scene.utils import (  # noqa: F401  (re-exported: the YAML names them here)
    coordinate_mean_distance,
    coordinate_process_results,
    coordinate_valid_json,
    coordinate_within_tolerance,
    description_bleu4,
    description_cider,
    description_f1,
    description_precision,
    description_recall,
    doc_to_text,
    doc_to_visual,
)

DESCRIPTION_METRICS = ("structure_f1", "structure_precision", "structure_recall", "cider", "bleu4")


def description_process_results(doc, results):
    """Per sample: the structure-fact counts (aggregated as micro F1) and the texts (for CIDEr/BLEU);
    ``score`` is the description's own F1/precision/recall, stored per sample for item-level analyses."""
    response = results[0] if results else ""
    counts = metrics.structure_counts(response, Section.from_dict(json.loads(doc["section"])))
    item = {**counts, "prediction": response, "reference": doc["answer"]}
    own = metrics.micro_f1([counts])
    scores = {"structure_f1": own["f1"], "structure_precision": own["precision"], "structure_recall": own["recall"]}
    return {name: {**item, "score": scores[name]} if name in scores else item for name in DESCRIPTION_METRICS}
