"""lmms-eval's own TaskManager finds the scene tasks in harness_tasks and builds them from a small build."""
import shutil
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness_plugins.scene.dataset import SceneDataSizes, ensure_scene_data
from harness_plugins.tasks.lmms import load_tasks, task_entries, task_manager
from harness_plugins.tasks.scene import SCENE_TASKS, TASKS_FOLDER

NAMES = [t for spec in SCENE_TASKS for t in spec.lmms_tasks]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return ensure_scene_data(tmp_path_factory.mktemp("scene"), seed=1,
                             sizes=SceneDataSizes(align=2, instruct=2, eval=12, validation=12, image_size=32))


@pytest.fixture(scope="module")
def manager():
    return task_manager([TASKS_FOLDER], include_defaults=False)


@pytest.fixture(scope="module")
def tasks(data, manager):
    return load_tasks(task_entries(NAMES, data), manager=manager)


def _aggregate(task, responses):
    docs = task.test_docs()
    per_metric = {}
    for doc, response in zip(docs, responses):
        for name, value in task.process_results(doc, [response]).items():
            per_metric.setdefault(name, []).append(value)
    return {name: task.aggregation()[name](values) for name, values in per_metric.items()}


def test_task_manager_indexes_the_three_scene_tasks(manager):
    assert set(NAMES) <= set(manager.all_tasks)


def test_tasks_read_the_data_folder_given_at_run_time(tasks, data):
    for name in NAMES:
        task = tasks[name]
        assert task.config.dataset_path == str(data / name)
        docs = task.test_docs()
        assert len(docs) == 12
        assert task.doc_to_visual(docs[0])[0].mode == "RGB"
        assert task.doc_to_text(docs[0]) == docs[0]["prompt"]


def test_vqa_reference_answers_score_one_and_report_the_majority_baseline(tasks):
    task = tasks["vqa_scene"]
    scores = _aggregate(task, [d["answer"] for d in task.test_docs()])
    assert scores["exact_match"] == 1.0
    assert 0 < scores["majority_baseline"] < 1
    wrong = _aggregate(task, ["purple elephant"] * 12)
    assert wrong["exact_match"] == 0.0 and wrong["majority_baseline"] == scores["majority_baseline"]


def test_description_reference_scores_full_attribute_f1(tasks):
    task = tasks["scene_description"]
    scores = _aggregate(task, [d["answer"] for d in task.test_docs()])
    assert scores["attribute_f1"] == 1.0 and scores["cider"] > 1.0
    assert _aggregate(task, ["nothing"] * 12)["attribute_f1"] == 0.0


def test_coordinate_answers_score_by_validity_and_distance(tasks):
    task = tasks["coordinate_prediction"]
    docs = task.test_docs()
    half = [d["answer"] if i % 2 == 0 else "somewhere" for i, d in enumerate(docs)]
    scores = _aggregate(task, half)
    assert scores["valid_json"] == 0.5 and scores["within_tolerance"] == 0.5 and scores["mean_distance"] == 0.0


def test_unknown_task_name_is_a_one_line_error(manager):
    with pytest.raises(HarnessError, match=r"unknown lmms-eval task 'vqa_scen'.*did you mean 'vqa_scene'"):
        load_tasks(["vqa_scen"], manager=manager)


def test_folder_that_is_not_a_dataset_is_a_one_line_error(tmp_path):
    (tmp_path / "vqa_scene").mkdir()
    with pytest.raises(HarnessError, match="is not a datasets folder"):
        task_entries(["vqa_scene"], tmp_path)
    with pytest.raises(HarnessError, match="does not exist"):
        task_entries(["pope"], tmp_path / "missing")


def test_task_yaml_with_a_syntax_error_names_file_and_line(tmp_path):
    folder = tmp_path / "tasks"
    shutil.copytree(Path(TASKS_FOLDER) / "scene", folder)
    (folder / "broken.yaml").write_text("task: broken\ndataset_path: [unclosed\n")
    with pytest.raises(HarnessError, match=r"YAML error in task file .*broken.yaml, line \d"):
        task_manager([folder], include_defaults=False)
