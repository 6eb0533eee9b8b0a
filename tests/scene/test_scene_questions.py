"""data.scene_questions=k: k independent short-answer questions per instruct image, built on demand beside
the scene build (which stays byte for byte as it was), each exchange its own record in the finetune mix,
the exchanges of one image one group for packing; the key's validation and hash."""
from __future__ import annotations

import json
from types import SimpleNamespace

import datasets
import pytest

from harness.cli.config_cmds import resolve_cells
from harness.config.schema import SCENE_QUESTIONS_AUTO
from harness.errors import HarnessError
from harness_plugins.recipes.llava15.pack import image_groups
from harness_plugins.recipes.llava15.parts import training_records
from harness_plugins.scene.dataset import (MANIFEST, QUESTIONS_SPLIT, SceneDataSizes, data_dir, ensure_question_data,
                                           ensure_scene_data, questions_dir)
from harness_plugins.scene.language import VQA_TYPES

SIZES = SceneDataSizes(align=3, instruct=6, eval=2, validation=2, image_size=32)


@pytest.fixture(scope="module")
def home(file_home):
    return file_home


def _cfg(k):
    return SimpleNamespace(data=SimpleNamespace(train="scene", image_root=None, align=None, align_image_root=None,
                                                on_bad_row="error", scene_seed=0, seismic="false", scene_questions=k))


def _pixels(image):
    return image.convert("RGB").tobytes()


def test_questions_ask_about_the_instruct_images_and_leave_the_scene_build_alone(home):
    root = home / "data" / "scene"
    scene = ensure_scene_data(root, 0, SIZES)
    before = {p.relative_to(scene): p.read_bytes() for p in sorted(scene.rglob("*")) if p.is_file()}
    folder = ensure_question_data(root, 0, 3, SIZES)
    assert folder == questions_dir(root, 0, 3, SIZES) and folder.parent == scene.parent and folder != scene
    after = {p.relative_to(scene): p.read_bytes() for p in sorted(scene.rglob("*")) if p.is_file()}
    assert after == before
    instruct = datasets.load_from_disk(str(scene / "instruct"))
    questions = datasets.load_from_disk(str(folder / QUESTIONS_SPLIT))
    by_id = {row["id"].removeprefix("instruct-"): _pixels(row["image"]) for row in instruct}
    assert len(questions) == len(instruct)
    for row in questions:
        assert _pixels(row["image"]) == by_id[row["id"].removeprefix("questions-")]  # the same scene's image
        turns = row["conversations"]
        assert len(turns) == 2 * len(row["qtypes"]) and 1 <= len(row["qtypes"]) <= 3
        assert set(row["qtypes"]) <= set(VQA_TYPES)
        assert [t["value"].count("<image>") for t in turns[::2]] == [1] + [0] * (len(turns) // 2 - 1)
        assert len({t["value"] for t in turns[::2]}) == len(turns) // 2  # distinct questions
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["k"] == 3 and manifest["questions"] == sum(len(q) for q in questions["qtypes"])
    assert ensure_question_data(root, 0, 3, SIZES) == folder  # reused
    assert data_dir(root, 0).name == "seed0"  # the default build's folder name is unchanged


def test_the_finetune_mix_gets_each_question_as_its_own_record_grouped_by_image(home):
    _, plain, _ = training_records(_cfg(0), SIZES)
    _, mixed, about = training_records(_cfg(3), SIZES)
    questions = datasets.load_from_disk(str(questions_dir(home / "data" / "scene", 0, 3, SIZES) / QUESTIONS_SPLIT))
    n = sum(len(q) for q in questions["qtypes"])
    assert len(mixed) == len(plain) + n and f"{n} short-answer questions" in about
    extra = [mixed[i] for i in range(len(plain), len(mixed))]
    assert all(len(r.conversations) == 2 and r.conversations[0]["value"].startswith("<image>\n") for r in extra)
    groups = image_groups(mixed)
    assert groups[:len(plain)] == [[i] for i in range(len(plain))]
    assert [len(g) for g in groups[len(plain):]] == [len(q) for q in questions["qtypes"]]
    first = groups[len(plain)]
    assert len({mixed[i].id.split("/")[0] for i in first}) == 1


def _resolved(*overrides):
    (resolved,) = resolve_cells(overrides, multirun=False)
    return resolved


@pytest.mark.parametrize("value", ["-1", "33", "two"])
def test_a_bad_scene_questions_is_one_line(value):
    with pytest.raises(HarnessError) as err:
        _resolved(f"data.scene_questions={value}")
    assert "data.scene_questions" in err.value.one_line() and "\n" not in err.value.one_line()


def test_scene_questions_needs_the_scene_world_and_is_in_the_training_hash(tmp_path):
    with pytest.raises(HarnessError, match="data.train=scene"):
        _resolved(f"data.train={tmp_path / 'mix.json'}", "data.scene_questions=2")
    assert _resolved("data.scene_questions=4").hashes["training"] != _resolved().hashes["training"]
    assert _resolved("data.scene_questions=0").hashes["training"] != _resolved().hashes["training"]


def test_unset_scene_questions_are_eight_on_the_scene_world_and_none_on_your_own_data(tmp_path):
    """The default mix carries the validation-chosen questions; a real mix gets none unless asked, and
    the unset key and its value spelled out are one training (one hash, so one checkpoint)."""
    assert SCENE_QUESTIONS_AUTO == 8 and _resolved().config.data.scene_questions == 8
    assert _resolved("data.scene_questions=8").hashes["training"] == _resolved().hashes["training"]
    assert _resolved("data.scene_questions=null").config.data.scene_questions == 8
    assert _resolved(f"data.train={tmp_path / 'mix.json'}").config.data.scene_questions == 0
