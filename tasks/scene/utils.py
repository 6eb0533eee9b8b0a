"""lmms-eval adapters for the scene tasks: visuals, prompts, per-sample results and aggregations.

The scoring itself lives in :mod:`harness_plugins.scene.metrics`.
"""
from __future__ import annotations

import json

from harness_plugins.scene import metrics
from harness_plugins.scene.language import PERCEPTION_TYPES, REASONING_TYPES, VQA_TYPES
from harness_plugins.scene.model import Scene


def doc_to_visual(doc):
    return [doc["image"].convert("RGB")]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['prompt']}{kwargs.get('post_prompt', '')}"


def _first(results):
    return results[0] if results else ""


# --- vqa_scene ----------------------------------------------------------------------------------

VQA_METRICS = ("exact_match", "majority_baseline", "em_perception", "em_reasoning",
               *(f"em_{t}" for t in VQA_TYPES))


def vqa_process_results(doc, results):
    response = _first(results)
    item = {"qtype": doc["qtype"], "answer": doc["answer"], "prediction": response,
            "score": metrics.exact_match(response, doc["answer"])}
    return {name: item for name in VQA_METRICS}


def vqa_exact_match(items):
    return metrics.mean_score(items)


def vqa_majority_baseline(items):
    return metrics.majority_baseline(items)


def vqa_perception(items):
    return metrics.mean_score([i for i in items if i["qtype"] in PERCEPTION_TYPES])


def vqa_reasoning(items):
    return metrics.mean_score([i for i in items if i["qtype"] in REASONING_TYPES])


def _per_type(qtype):
    def aggregate(items):
        return metrics.mean_score(items, qtype)

    aggregate.__name__ = f"vqa_em_{qtype}"
    return aggregate


for _qtype in VQA_TYPES:
    globals()[f"vqa_em_{_qtype}"] = _per_type(_qtype)


# --- scene_description --------------------------------------------------------------------------

DESCRIPTION_METRICS = ("attribute_f1", "attribute_precision", "attribute_recall", "cider", "bleu4")


def description_process_results(doc, results):
    response = _first(results)
    counts = metrics.attribute_counts(response, Scene.from_dict(json.loads(doc["scene"])))
    item = {**counts, "prediction": response, "reference": doc["answer"]}
    # The description's own precision, recall and F1 are its per-sample scores ("score", which the harness
    # stores per sample for the item-level analyses); the aggregations read the counts.
    own = metrics.micro_f1([counts])
    scores = {"attribute_f1": own["f1"], "attribute_precision": own["precision"], "attribute_recall": own["recall"]}
    return {name: {**item, "score": scores[name]} if name in scores else item for name in DESCRIPTION_METRICS}


def description_f1(items):
    return metrics.micro_f1(items)["f1"]


def description_precision(items):
    return metrics.micro_f1(items)["precision"]


def description_recall(items):
    return metrics.micro_f1(items)["recall"]


def description_cider(items):
    return metrics.cider([i["reference"] for i in items], [i["prediction"] for i in items])


def description_bleu4(items):
    return metrics.bleu4([i["reference"] for i in items], [i["prediction"] for i in items])


# --- coordinate_prediction ----------------------------------------------------------------------

COORDINATE_METRICS = ("within_tolerance", "valid_json", "mean_distance")


def coordinate_process_results(doc, results):
    response = _first(results)
    scored = metrics.coordinate_score(response, doc["answer"])
    item = {**scored, "prediction": response}
    # Per-sample scores for the item-level analyses: a hit, valid JSON (the distance has none: lower is better).
    scores = {"within_tolerance": scored["hit"], "valid_json": scored["valid"]}
    return {name: {**item, "score": scores[name]} if name in scores else item for name in COORDINATE_METRICS}


def coordinate_within_tolerance(items):
    return sum(i["hit"] for i in items) / len(items) if items else float("nan")


def coordinate_valid_json(items):
    return sum(i["valid"] for i in items) / len(items) if items else float("nan")


def coordinate_mean_distance(items):
    return metrics.mean_distance(items)
