"""The seismic tasks: registered as harness tasks from their entry point, found and built by lmms-eval's
own TaskManager from a small build, scored through lmms-eval's task objects, and pointed at a user's
folder in the same schema (task.data)."""
import json
from types import SimpleNamespace

import datasets
import pytest
from PIL import Image

from harness.errors import HarnessError
from harness.lazy import load_ref
from harness.plugin_manager import load_plugins
from harness_plugins.seismic.dataset import SeismicDataSizes, ensure_seismic_data
from harness_plugins.tasks.lmms import load_tasks, task_entries, task_manager
from harness_plugins.tasks.seismic import SEISMIC_TASKS
from harness_plugins.tasks.scene import TASKS_FOLDER

NAMES = [t for spec in SEISMIC_TASKS for t in spec.lmms_tasks]
N = 10


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return ensure_seismic_data(tmp_path_factory.mktemp("seismic"), seed=1,
                               sizes=SeismicDataSizes(train=2, eval=N, validation=N))


@pytest.fixture(scope="module")
def manager():
    return task_manager([TASKS_FOLDER], include_defaults=False)


@pytest.fixture(scope="module")
def tasks(data, manager):
    return load_tasks(task_entries(NAMES, data), manager=manager)


def _aggregate(task, responses):
    per_metric = {}
    for doc, response in zip(task.test_docs(), responses):
        for name, value in task.process_results(doc, [response]).items():
            per_metric.setdefault(name, []).append(value)
    return {name: task.aggregation()[name](values) for name, values in per_metric.items()}


def _config(task, data=None, tasks=(), seed=0):
    return SimpleNamespace(task=SimpleNamespace(name=task, data=data), data=SimpleNamespace(scene_seed=seed),
                           eval=SimpleNamespace(tasks=list(tasks)))


def test_the_entry_point_registers_both_tasks_with_aliases_and_capability_tags():
    plugins = load_plugins()
    registry = plugins.registry("tasks")
    description, coords = registry.get("seismic_description"), registry.get("seismic_coords")
    assert description.name == "seismic_description" and description.primary_metric == "structure_f1"
    assert coords.name == "seismic_coordinates" and coords.primary_metric == "within_tolerance"
    assert description.capability_tags == ("perception-heavy",)
    assert coords.capability_tags == ("structured-output",)
    assert registry.get("seismic_coordinates_val").lmms_tasks == ("seismic_coordinates_val",)
    assert registry.entry("seismic_description").plugin == "seismic_tasks"
    assert not plugins.errors


def test_task_manager_indexes_the_seismic_tasks(manager):
    assert set(NAMES) <= set(manager.all_tasks)


def test_tasks_read_the_data_folder_given_at_run_time(tasks, data):
    for name in NAMES:
        task = tasks[name]
        assert task.config.dataset_path == str(data / name)
        docs = task.test_docs()
        assert len(docs) == N
        assert task.doc_to_visual(docs[0])[0].mode == "RGB"
        assert task.doc_to_text(docs[0]) == docs[0]["prompt"]


def test_reference_descriptions_score_full_structure_f1_and_wrong_ones_less(tasks):
    task = tasks["seismic_description"]
    docs = task.test_docs()
    scores = _aggregate(task, [d["answer"] for d in docs])
    assert scores["structure_f1"] == 1.0 and scores["structure_recall"] == 1.0 and scores["cider"] > 1.0
    swapped = [d["answer"].replace("normal", "REVERSE").replace("reverse", "normal").replace("REVERSE", "reverse")
               for d in docs]
    assert 0.0 < _aggregate(task, swapped)["structure_f1"] < 1.0
    assert _aggregate(task, ["nothing to see"] * N)["structure_f1"] == 0.0
    per_sample = task.process_results(docs[0], [docs[0]["answer"]])
    assert per_sample["structure_f1"]["score"] == 1.0


def test_coordinate_answers_score_by_validity_and_distance(tasks):
    task = tasks["seismic_coordinates"]
    docs = task.test_docs()
    half = [d["answer"] if i % 2 == 0 else "the top of the fault" for i, d in enumerate(docs)]
    scores = _aggregate(task, half)
    assert scores["valid_json"] == 0.5 and scores["within_tolerance"] == 0.5 and scores["mean_distance"] == 0.0
    far = [json.dumps({"x": 1 - json.loads(d["answer"])["x"], "y": 1.5}) for d in docs]
    scores = _aggregate(task, far)
    assert scores["valid_json"] == 1.0 and scores["within_tolerance"] == 0.0 and scores["mean_distance"] > 0.4
    fenced = ["```json\n" + d["answer"] + "\n```" for d in docs]
    assert _aggregate(task, fenced)["within_tolerance"] == 1.0


def test_prepare_builds_the_world_on_first_use_under_harness_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    import harness_plugins.tasks.seismic as hook

    small = SeismicDataSizes(train=1, eval=2, validation=2, image_size=16)
    monkeypatch.setattr("harness_plugins.seismic.dataset.SeismicDataSizes", lambda: small)
    overrides = load_ref(hook.PREPARE)(_config("seismic_coords"))
    (task, override), = overrides.items()
    assert task == "seismic_coordinates"
    assert override["dataset_path"].startswith(str(tmp_path / "data" / "seismic"))


def _user_folder(root):
    """Real interpreted data in the documented schema: two hand-made rows per task."""
    image = Image.new("RGB", (80, 50), (128, 128, 128))
    section = {"horizons": [{"depth": 0.4, "dip": 0.2, "curvature": 0.0, "amplitude": 1.0}],
               "faults": [{"kind": "normal", "dip": "left", "x0": 0.6, "y0": 0.1, "x1": 0.5, "y1": 0.9,
                           "throw": 0.05}]}
    rows = [{"id": f"well-{i}", "image": image, "prompt": "Describe the section.", "section": json.dumps(section),
             "answer": "There is one horizon, dipping to the right. A normal fault dips to the left in the centre."}
            for i in range(2)]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(str(root / "seismic_description"))
    coords = [{"id": "well-0", "image": image, "prompt": "Give the upper end of the fault as JSON.",
               "answer": json.dumps({"x": 0.6, "y": 0.1})}]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(coords)}).save_to_disk(str(root / "seismic_coordinates"))
    return root


def test_task_data_points_both_tasks_at_a_user_folder_in_the_same_schema(tmp_path, manager):
    folder = _user_folder(tmp_path / "mine")
    prepare = load_ref(SEISMIC_TASKS[0].prepare)
    overrides = prepare(_config("seismic_description", data=str(folder), tasks=["seismic_coordinates"]))
    assert overrides == {t: {"dataset_path": str(folder / t), "dataset_kwargs": {"load_from_disk": True}}
                         for t in ("seismic_description", "seismic_coordinates")}
    loaded = load_tasks([{"task": t, **o} for t, o in overrides.items()], manager=manager)
    description = loaded["seismic_description"]
    assert _aggregate(description, [d["answer"] for d in description.test_docs()])["structure_f1"] == 1.0
    coordinates = loaded["seismic_coordinates"]
    assert _aggregate(coordinates, ['{"x": 0.62, "y": 0.12}'])["within_tolerance"] == 1.0
    # one task's own folder also works (task.data naming the datasets folder itself)
    only = prepare(_config("seismic_coordinates", data=str(folder / "seismic_coordinates")))
    assert only["seismic_coordinates"]["dataset_path"] == str(folder / "seismic_coordinates")


def test_task_data_that_is_not_a_datasets_folder_is_a_one_line_error(tmp_path):
    prepare = load_ref(SEISMIC_TASKS[0].prepare)
    with pytest.raises(HarnessError, match="does not exist"):
        prepare(_config("seismic_description", data=str(tmp_path / "missing")))
    (tmp_path / "seismic_description").mkdir()
    with pytest.raises(HarnessError, match="is not a datasets folder"):
        prepare(_config("seismic_description", data=str(tmp_path)))
