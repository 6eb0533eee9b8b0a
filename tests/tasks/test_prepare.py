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


OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


@pytest.fixture
def online(monkeypatch):
    for var in OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def offline_empty_caches(monkeypatch, tmp_path):
    """No network and nothing cached: lmms-eval could not load any hub dataset."""
    import huggingface_hub.constants
    from datasets import config as datasets_config

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets_config, "HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    return tmp_path / "hub"


def _pope_copy(folder):
    datasets.DatasetDict({"test": datasets.Dataset.from_list([{"question": "q"}])}).save_to_disk(str(folder))
    return folder


def test_benchmark_prepare_uses_task_data_for_the_run_task_and_the_download_otherwise(tmp_path, online):
    copy = _pope_copy(tmp_path / "p")
    prepare = load_ref(next(s for s in BENCHMARKS if s.name == "pope").prepare)
    assert prepare(_config(task="pope", data=str(copy)))["pope"]["dataset_path"] == str(copy)
    assert prepare(_config(task="vqa", data=str(copy))) == {}  # not the run's task: lmms-eval downloads it
    assert prepare(_config(task="pope")) == {}


def test_offline_a_benchmark_missing_from_the_cache_fails_before_training(tmp_path, offline_empty_caches):
    prepare = load_ref(next(s for s in BENCHMARKS if s.name == "pope").prepare)
    with pytest.raises(HarnessError, match=r"task pope needs the hub dataset lmms-lab-encoder/POPE.*point task.data"):
        prepare(_config(task="pope"))
    with pytest.raises(HarnessError, match=r"put a local copy at <task.data>/pope"):
        prepare(_config(task="vqa", tasks=["pope"]))
    (offline_empty_caches / "datasets--lmms-lab-encoder--POPE").mkdir(parents=True)
    assert prepare(_config(task="pope")) == {}  # cached: lmms-eval loads it from there


def test_a_benchmark_in_eval_tasks_reads_its_folder_under_task_data(tmp_path, offline_empty_caches):
    _pope_copy(tmp_path / "data" / "pope")
    prepare = load_ref(next(s for s in BENCHMARKS if s.name == "pope").prepare)
    overrides = prepare(_config(task="vqa", data=str(tmp_path / "data"), tasks=["pope"]))
    assert overrides["pope"]["dataset_path"] == str(tmp_path / "data" / "pope")


def test_benchmark_prepare_rejects_a_folder_that_is_not_a_dataset(tmp_path):
    prepare = load_ref(next(s for s in BENCHMARKS if s.name == "mme").prepare)
    with pytest.raises(HarnessError, match="not a datasets folder"):
        prepare(_config(task="mme", data=str(tmp_path)))
