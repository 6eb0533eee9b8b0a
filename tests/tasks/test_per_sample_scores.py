"""The description and coordinate tasks give each sample a score (what the item-level analyses of
`harness compare` read), and their aggregations are unchanged by it."""
import json

import harness_tasks.scene.utils as utils  # noqa: F401  (the module lmms-eval loads)
from harness.evaluation.results import sample_rows
from harness_plugins.scene.metrics import micro_f1
from harness_plugins.scene.world import describe, generate_scene


def _scene_doc(seed):
    scene = generate_scene(seed)
    return {"scene": json.dumps(scene.to_dict()), "answer": describe(scene)}, scene


def test_a_description_scores_its_own_attribute_f1_and_the_aggregation_stays_micro():
    docs = [_scene_doc(s) for s in (1, 2)]
    results = [utils.description_process_results(docs[0][0], [docs[0][0]["answer"]]),
               utils.description_process_results(docs[1][0], ["a red circle"])]
    assert results[0]["attribute_f1"]["score"] == 1.0 and 0.0 <= results[1]["attribute_f1"]["score"] < 1.0
    items = [r["attribute_f1"] for r in results]
    assert utils.description_f1(items) == micro_f1([{k: i[k] for k in ("tp", "pred", "gold")} for i in items])["f1"]
    rows = sample_rows("scene_description", [{"doc_id": i, "target": "", **r} for i, r in enumerate(results)],
                       "attribute_f1", {}, {}, None)
    assert [row.score for row in rows] == [1.0, results[1]["attribute_f1"]["score"]]


def test_a_coordinate_answer_scores_a_hit_and_valid_json_per_sample():
    doc = {"answer": json.dumps({"x": 0.5, "y": 0.5})}
    hit = utils.coordinate_process_results(doc, ['{"x": 0.51, "y": 0.5}'])
    broken = utils.coordinate_process_results(doc, ["somewhere left"])
    assert (hit["within_tolerance"]["score"], hit["valid_json"]["score"]) == (1.0, 1.0)
    assert (broken["within_tolerance"]["score"], broken["valid_json"]["score"]) == (0.0, 0.0)
    assert "score" not in hit["mean_distance"]
    assert utils.coordinate_valid_json([hit["valid_json"], broken["valid_json"]]) == 0.5
    rows = sample_rows("coordinate_prediction", [{"doc_id": 0, "target": "", **hit}], "within_tolerance", {}, {}, None)
    assert rows[0].score == 1.0 and rows[0].extra["metrics"]["valid_json"] == 1.0
