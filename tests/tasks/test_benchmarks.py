"""Benchmark mappings name real lmms-eval tasks and metrics, and run offline from a local copy."""
import datasets
import pytest
from PIL import Image

from harness_plugins.tasks.benchmarks import BENCHMARKS
from harness_plugins.tasks.lmms import load_tasks, task_entries, task_manager


@pytest.fixture(scope="module")
def manager():
    return task_manager()


def _metrics_of(manager, task):
    from lmms_eval.utils import load_yaml_config

    config = load_yaml_config(manager.task_index[task]["yaml_path"], mode="simple")
    return {m["metric"] for m in config.get("metric_list", [])}


def test_each_benchmark_maps_to_an_lmms_eval_task_reporting_its_primary_metric(manager):
    for spec in BENCHMARKS:
        for task in spec.lmms_tasks:
            assert manager.task_index.get(task, {}).get("type") == "task", task
            assert spec.primary_metric in _metrics_of(manager, task), (spec.name, task)
        assert spec.capability_tags


def test_required_benchmarks_and_tags_are_registered():
    names = {s.name for s in BENCHMARKS}
    assert {"vqav2", "gqa", "textvqa", "scienceqa_img", "pope", "mme", "mmbench_en"} <= names
    tags = {t for s in BENCHMARKS for t in s.capability_tags}
    assert {"perception-heavy", "reasoning-heavy", "OCR", "hallucination"} <= tags


def _image(colour):
    return Image.new("RGB", (24, 24), colour)


def test_pope_runs_offline_from_a_local_copy(tmp_path, manager):
    rows = [{"question_id": str(i), "question": f"Is there a {obj} in the image?", "answer": ans,
             "image": _image(c), "category": "random"}
            for i, (obj, ans, c) in enumerate([("cat", "yes", "red"), ("dog", "no", "blue"),
                                               ("car", "yes", "green"), ("cup", "no", "white")])]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "pope"))
    task = load_tasks(task_entries(["pope"], tmp_path / "pope"), manager=manager)["pope"]
    docs = task.test_docs()
    assert len(docs) == 4
    assert "Is there a cat" in task.doc_to_text(docs[0])
    responses = ["yes", "yes", "yes", "no"]  # tp, fp, tp, tn
    per_metric = {}
    for doc, response in zip(docs, responses):
        for name, value in task.process_results(doc, [response]).items():
            per_metric.setdefault(name, []).append(value)
    agg = task.aggregation()
    assert agg["pope_accuracy"](per_metric["pope_accuracy"]) == 0.75
    assert agg["pope_f1_score"](per_metric["pope_f1_score"]) == pytest.approx(0.8)


def test_textvqa_runs_offline_from_a_folder_of_several_tasks(tmp_path, manager):
    rows = [{"question_id": 1, "question": "what does the sign say?", "image": _image("yellow"),
             "answers": ["stop"] * 10, "ocr_tokens": ["STOP"], "image_id": "a"}]
    datasets.DatasetDict({"validation": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "textvqa_val"))
    entries = task_entries(["textvqa_val"], tmp_path)
    assert entries[0]["dataset_path"] == str(tmp_path / "textvqa_val")
    task = load_tasks(entries, manager=manager)["textvqa_val"]
    doc = task.test_docs()[0]
    assert task.process_results(doc, ["Stop"])["exact_match"] == 1.0
    assert task.process_results(doc, ["go"])["exact_match"] == 0.0


def test_gqa_local_copy_skips_the_online_image_join(tmp_path, manager):
    rows = [{"id": "q1", "imageId": "n1", "question": "What colour is the ball?", "answer": "red",
             "fullAnswer": "The ball is red.", "image": _image("red")}]
    datasets.DatasetDict({"testdev": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "gqa"))
    task = load_tasks(task_entries(["gqa"], tmp_path / "gqa"), manager=manager)["gqa"]
    assert task.doc_to_visual(task.test_docs()[0])[0].size == (24, 24)
