"""The finetune mix of issue #17 item 3: the scene world's instructions, then the seismic world's train
split (each exchange a record), from real builds at a small size; data.seismic turns it off or points it
at a file; the key is in the training hash; align never sees seismic."""
from __future__ import annotations

import json
from types import SimpleNamespace

import datasets
import pytest
from PIL import Image

from clirunner import run_cli
from harness.cli.config_cmds import resolve_cells
from harness.errors import HarnessError
from harness_plugins.recipes.llava15.mix import seismic_choice
from harness_plugins.recipes.llava15.order import StageOrder
from harness_plugins.recipes.llava15.parts import training_records
from harness_plugins.recipes.llava15.samples import modality_length, text_rows
from harness_plugins.scene.dataset import SceneDataSizes
from harness_plugins.scene.dataset import data_dir as scene_dir
from harness_plugins.seismic.dataset import EVAL_TASKS, TRAIN_SPLIT, VALIDATION_TASKS, SeismicDataSizes
from harness_plugins.seismic.dataset import data_dir as seismic_dir

SCENE = SceneDataSizes(align=6, instruct=8, eval=3, validation=3, image_size=32)
SEISMIC = SeismicDataSizes(train=5, eval=4, validation=4, image_size=32)


def _cfg(seismic="true", train="scene"):
    return SimpleNamespace(data=SimpleNamespace(train=train, image_root=None, align=None, align_image_root=None,
                                                on_bad_row="error", scene_seed=0, seismic=seismic))


@pytest.fixture(scope="module")
def home(file_home):
    return file_home


@pytest.fixture(scope="module")
def mixed(home):
    return training_records(_cfg(), SCENE, SEISMIC)


def _split(folder, name):
    loaded = datasets.load_from_disk(str(folder / name))
    return loaded["test"] if isinstance(loaded, datasets.DatasetDict) else loaded


def _pixels(image) -> bytes:
    return image.convert("RGB").tobytes()


def test_finetune_is_the_scene_instructions_then_each_seismic_train_exchange(home, mixed):
    _, finetune, about = mixed
    instruct = _split(scene_dir(home / "data" / "scene", 0, SCENE), "instruct")
    train = _split(seismic_dir(home / "data" / "seismic", 0, SEISMIC), TRAIN_SPLIT)
    expected = list(instruct["id"]) + [f"{row_id}/{k}" for row_id in train["id"] for k in (0, 1)]
    assert [r.id for r in finetune] == expected
    seismic = [finetune[i] for i in range(len(instruct), len(finetune))]
    for n, record in enumerate(seismic):
        turns = train[n // 2]["conversations"][2 * (n % 2): 2 * (n % 2) + 2]
        assert [t["from"] for t in record.conversations] == ["human", "gpt"]
        assert record.conversations[0]["value"].startswith("<image>\n")
        assert record.conversations[0]["value"].removeprefix("<image>\n") == turns[0]["value"].removeprefix("<image>\n")
        assert record.conversations[1] == turns[1] and record.image is not None
    assert "8 instructions; seismic world (seed 0): 10 seismic exchanges" in about


def test_the_mix_holds_train_sections_only_never_an_evaluation_or_validation_one(home, mixed):
    _, finetune, _ = mixed
    folder = seismic_dir(home / "data" / "seismic", 0, SEISMIC)
    scene_count = len(_split(scene_dir(home / "data" / "scene", 0, SCENE), "instruct"))
    used = {_pixels(finetune[i].image) for i in range(scene_count, len(finetune))}
    assert used == {_pixels(image) for image in _split(folder, TRAIN_SPLIT)["image"]}
    for task in EVAL_TASKS + VALIDATION_TASKS:
        assert not used & {_pixels(image) for image in _split(folder, task)["image"]}, task


def test_align_stays_scene_captions_only(home, mixed):
    align, _, _ = mixed
    assert [r.id for r in align] == list(_split(scene_dir(home / "data" / "scene", 0, SCENE), "align")["id"])


def test_data_seismic_false_gives_the_scene_instructions_alone(home, mixed):
    _, finetune, about = training_records(_cfg("false"), SCENE, SEISMIC)
    assert [r.id for r in finetune] == list(_split(scene_dir(home / "data" / "scene", 0, SCENE), "instruct")["id"])
    assert "seismic" not in about


def test_length_grouping_reads_the_same_turns_as_the_records_and_the_order_draws_from_both(mixed):
    _, finetune, _ = mixed
    rows = list(text_rows(finetune))
    assert rows == [(list(r.conversations), r.image is not None) for r in finetune]
    lengths = [modality_length(turns, image) for turns, image in rows]
    order = StageOrder(len(finetune), global_batch=6, micro_batch=3, world_size=1, seed=0, lengths=lengths)
    batches = [i for step in range(order.total_steps) for mb in order.micro_batches(step, 0) for i in mb]
    again = StageOrder(len(finetune), global_batch=6, micro_batch=3, world_size=1, seed=0, lengths=lengths)
    assert batches == [i for step in range(again.total_steps) for mb in again.micro_batches(step, 0) for i in mb]
    assert len(set(batches)) == len(batches) == order.total_steps * 6
    assert any(i >= 8 for i in batches) and any(i < 8 for i in batches)


def test_a_path_adds_its_conversations_as_they_are(home, tmp_path):
    Image.new("RGB", (8, 8), (90, 90, 90)).save(tmp_path / "s.png")
    conv = [{"from": "human", "value": "<image>\nq0"}, {"from": "gpt", "value": "a0"},
            {"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"}]
    (tmp_path / "mine.json").write_text(json.dumps([{"id": "mine0", "image": "s.png", "conversations": conv}]))
    _, finetune, about = training_records(_cfg(str(tmp_path / "mine.json")), SCENE, SEISMIC)
    assert finetune[len(finetune) - 1].id == "mine0" and finetune[len(finetune) - 1].conversations == conv
    assert about.endswith("; mine.json: 1 seismic exchanges")


def _resolved(*overrides):
    (resolved,) = resolve_cells(overrides, multirun=False)
    return seismic_choice(resolved.config.data), resolved.hashes["training"]


def test_auto_is_true_on_the_scene_world_false_on_your_own_data_and_the_key_is_in_the_training_hash(tmp_path):
    on, off = _resolved(), _resolved("data.seismic=false")
    assert on[0] == "true" and off[0] == "false" and on[1] != off[1]
    assert _resolved("data.seismic=False") == _resolved("data.seismic=null") == off
    assert _resolved("data.seismic=TRUE")[0] == "true" and _resolved("data.seismic=TRUE")[1] != off[1]
    own = str(tmp_path / "mix.json")  # your own data.train: no synthetic seismic unless asked for
    assert _resolved(f"data.train={own}")[0] == "false"
    assert _resolved(f"data.train={own}", "data.seismic=true")[0] == "true"
    assert _resolved(f"data.train={own}", "data.seismic=true")[1] != _resolved(f"data.train={own}")[1]


def test_a_bad_value_is_one_line_naming_the_fix(tmp_path):
    with pytest.raises(HarnessError, match="data.seismic='ture' is neither auto, true, false nor an existing file"):
        resolve_cells(("data.seismic=ture",), multirun=False)
    done = run_cli(["config", "data.seismic=ture"], home=tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "set data.seismic=true" in done.stderr
    shown = run_cli(["run", "--dry-run", "backbone=llama3", "data.seismic=false"], home=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "seismic: 'false'" in shown.stdout or "seismic: false" in shown.stdout
