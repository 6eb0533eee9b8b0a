"""TaskSpec.prepare hooks: scene data built on first use, task.data used for the run's own task."""
from types import SimpleNamespace

import datasets
import pytest

from harness.errors import HarnessError
from harness.lazy import load_ref
from harness_plugins.tasks.benchmarks import BENCHMARKS
from harness_plugins.tasks.scene import SCENE_TASKS


def _config(task="vqa", data=None, seed=0, tasks=()):
    return SimpleNamespace(task=SimpleNamespace(name=task, data=data), data=SimpleNamespace(scene_seed=seed),
                           eval=SimpleNamespace(tasks=list(tasks)))


def test_every_task_has_a_prepare_hook_that_resolves():
    for spec in (*SCENE_TASKS, *BENCHMARKS):
        assert callable(load_ref(spec.prepare))


def test_scene_prepare_points_the_run_tasks_at_a_given_build(tmp_path):
    from harness_plugins.scene.dataset import SceneDataSizes, ensure_scene_data

    build = ensure_scene_data(tmp_path, seed=5, sizes=SceneDataSizes(align=1, instruct=1, eval=2, image_size=16))
    prepare = load_ref(SCENE_TASKS[0].prepare)
    overrides = prepare(_config(task="vqa", data=str(build), tasks=["coords", "vqa_scene_paraphrase"]))
    assert overrides["coordinate_prediction"] == {"dataset_path": str(build / "coordinate_prediction"),
                                                  "dataset_kwargs": {"load_from_disk": True}}
    assert set(overrides) == {"vqa_scene", "coordinate_prediction", "vqa_scene_paraphrase"}


def test_benchmark_prepare_uses_task_data_only_for_the_run_task(tmp_path):
    datasets.DatasetDict({"test": datasets.Dataset.from_list([{"question": "q"}])}).save_to_disk(str(tmp_path / "p"))
    prepare = load_ref(next(s for s in BENCHMARKS if s.name == "pope").prepare)
    assert prepare(_config(task="pope", data=str(tmp_path / "p")))["pope"]["dataset_path"] == str(tmp_path / "p")
    assert prepare(_config(task="vqa", data=str(tmp_path / "p"))) == {}
    assert prepare(_config(task="pope")) == {}


def test_benchmark_prepare_rejects_a_folder_that_is_not_a_dataset(tmp_path):
    prepare = load_ref(next(s for s in BENCHMARKS if s.name == "mme").prepare)
    with pytest.raises(HarnessError, match="not a datasets folder"):
        prepare(_config(task="mme", data=str(tmp_path)))
