"""The perceive stage's data (``data.perceive``): the scene world's colour, shape and exists questions, every
exchange its own record with the image, from a real build at a small size; a LLaVA JSON's exchanges; the
setting's checks and its place in the training hash. The stage trained end to end: test_train_pipeline.py."""
from __future__ import annotations

import json
from types import SimpleNamespace

import datasets
import pytest
from PIL import Image

from clirunner import run_cli
from harness.cli.config_cmds import resolve_cells
from harness_plugins.data.records import Record
from harness_plugins.recipes.llava15.mix import ExchangeRecords
from harness_plugins.recipes.llava15.parts import perceive_records
from harness_plugins.recipes.llava15.samples import text_rows
from harness_plugins.recipes.llava15.train import stage_plans
from harness_plugins.scene.dataset import QUESTIONS_SPLIT, SceneDataSizes, ensure_question_data, ensure_scene_data
from harness_plugins.scene.language import PERCEPTION_TYPES

SIZES = SceneDataSizes(align=3, instruct=12, eval=2, validation=2, image_size=32)


def _cfg(perceive, root=None, scene_questions=None, types=("colour", "exists", "shape")):
    return SimpleNamespace(data=SimpleNamespace(train="scene", perceive=perceive, image_root=root, on_bad_row="error",
                                                scene_seed=0, scene_questions=scene_questions, perceive_types=types))


@pytest.fixture(scope="module")
def home(file_home):
    return file_home


def test_scene_keeps_exactly_the_colour_shape_and_exists_exchanges_each_with_its_image(home):
    records, about = perceive_records(_cfg("scene"), SIZES)
    build = datasets.load_from_disk(str(ensure_question_data(home / "data" / "scene", 0, 8, SIZES) / QUESTIONS_SPLIT))
    expected = [(f"{row['id']}/{j}", row["conversations"][2 * j + 1]["value"])
                for row in build for j, qtype in enumerate(row["qtypes"]) if qtype in PERCEPTION_TYPES]
    assert 0 < len(expected) < sum(len(row["qtypes"]) for row in build)  # the build has other types too
    got = [records[i] for i in range(len(records))]
    assert [(r.id, r.conversations[1]["value"]) for r in got] == expected
    assert all(r.image is not None and r.conversations[0]["value"].startswith("<image>\n") and len(r.conversations) == 2
               for r in got)
    assert f"{len(expected)} colour/shape/exists questions (8 per instruct image)" in about


def test_instruct_only_types_come_from_the_instruct_set_beside_the_questions(home):
    """``data.perceive_types`` with description: the perception questions, then the instruct set's descriptions."""
    records, about = perceive_records(_cfg("scene", types=["colour", "description", "exists", "shape"]), SIZES)
    plain, _ = perceive_records(_cfg("scene"), SIZES)
    instruct = datasets.load_from_disk(str(ensure_scene_data(home / "data" / "scene", 0, SIZES) / "instruct"))
    described = [(f"{row['id']}/{j}", row["conversations"][2 * j + 1]["value"])
                 for row in instruct for j, qtype in enumerate(row["qtypes"]) if qtype == "description"]
    assert described and len(described) < sum(len(row["qtypes"]) for row in instruct)
    got = [(records[i].id, records[i].conversations[1]["value"]) for i in range(len(records))]
    assert got == [(plain[i].id, plain[i].conversations[1]["value"]) for i in range(len(plain))] + described
    assert all(records[i].image is not None for i in range(len(records)))
    rows = text_rows(records)  # what the sampler's lengths read: one row per exchange, as the records read
    assert [row[0] for row in rows] == [records[i].conversations for i in range(len(records))]
    assert f"and {len(described)} description exchanges of the instruct set" in about
    only, about = perceive_records(_cfg("scene", types=["description"]), SIZES)
    assert [only[i].id for i in range(len(only))] == [d[0] for d in described] and "questions" not in about


def test_a_llava_json_gives_every_exchange_as_a_record_and_unset_gives_none(tmp_path):
    Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / "0.png")
    rows = [{"id": "r0", "image": "0.png", "conversations": [
        {"from": "human", "value": "<image>\nq0"}, {"from": "gpt", "value": "a0"},
        {"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"}]}]
    (tmp_path / "p.json").write_text(json.dumps(rows))
    records, about = perceive_records(_cfg(str(tmp_path / "p.json"), root=str(tmp_path)))
    assert [(r.id, r.conversations[0]["value"]) for r in records] == [("r0/0", "<image>\nq0"), ("r0/1", "<image>\nq1")]
    assert "p.json, 2 exchanges" in about
    assert perceive_records(_cfg(None)) == (None, "")


def test_kept_exchanges_group_by_their_own_record_only():
    """With exchanges left out, an image group is still the kept exchanges of one record, never a neighbour's."""
    records = [Record(id=f"r{i}", image="x.png", conversations=[
        {"from": "human" if t % 2 == 0 else "gpt", "value": str(t)} for t in range(2 * n)]) for i, n in enumerate((3, 2))]
    kept = ExchangeRecords(records, keep=lambda i, k: (i, k) in {(0, 2), (1, 0), (1, 1)})
    assert [r.id for r in (kept[n] for n in range(len(kept)))] == ["r0/2", "r1/0", "r1/1"]
    assert kept.image_groups() == [[0], [1, 2]]


def test_the_stage_runs_between_align_and_finetune_at_the_finetune_settings():
    (resolved,) = resolve_cells(("backbone=llama3", "data.perceive=scene", "recipe.perceive_epochs=2",
                                 "recipe.perceive_max_steps=5"), multirun=False)
    plans = stage_plans(resolved.config.recipe, seed=7, on_gpu=False, perceive=True)
    align, perceive, finetune = plans
    assert [p.name for p in plans] == ["align", "perceive", "finetune"]
    assert (perceive.lr, perceive.global_batch, perceive.epochs, perceive.pack, perceive.train_llm, perceive.key) == (
        finetune.lr, finetune.global_batch, 2.0, 1, True, "finetune")
    assert (perceive.max_steps, finetune.max_steps, finetune.pack) == (5, None, 8)  # its own cap; the mix packs
    assert (align.seed, finetune.seed, perceive.seed) == (7, 8, 9)  # finetune's seed as without the stage
    (default,) = resolve_cells(("backbone=llama3",), multirun=False)
    assert resolved.hashes["training"] != default.hashes["training"]


@pytest.mark.parametrize("off", ["none", "off", "false", "null"])
def test_every_spelling_of_no_stage_is_the_default_training(off):
    (default,) = resolve_cells(("backbone=llama3",), multirun=False)
    (spelled,) = resolve_cells(("backbone=llama3", f"data.perceive={off}"), multirun=False)
    assert spelled.config.data.perceive is None and spelled.hashes == default.hashes


def test_perceive_types_hash_as_a_set_and_at_their_default_not_at_all():
    (default,) = resolve_cells(("backbone=llama3",), multirun=False)
    (scene,) = resolve_cells(("backbone=llama3", "data.perceive=scene"), multirun=False)
    (spelled,) = resolve_cells(("backbone=llama3", "data.perceive=scene", "data.perceive_types=shape,colour,exists,shape"),
                               multirun=False)
    (described,) = resolve_cells(("backbone=llama3", "data.perceive=scene",
                                  "data.perceive_types=[colour,shape,exists,description]"), multirun=False)
    assert default.config.data.perceive_types == ["colour", "exists", "shape"] == spelled.config.data.perceive_types
    assert spelled.hashes == scene.hashes  # order and repeats aside, the default: the hash before the setting
    assert described.config.data.perceive_types == ["colour", "description", "exists", "shape"]
    assert len({default.hashes["training"], scene.hashes["training"], described.hashes["training"]}) == 3


@pytest.mark.parametrize("args, says", [
    (["data.perceive=scene", "data.perceive_types=colr"], "it must be a list of the scene world's question types"),
    (["data.perceive_types=description"], "picks questions of the scene world, and data.perceive is unset"),
])
def test_bad_perceive_types_are_one_line_and_exit_2(tmp_path, args, says):
    done = run_cli(["run", "task=vqa", "backbone=llama3", *args, "--dry-run"], home=tmp_path / "home")
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "data.perceive_types=" in done.stderr and says in done.stderr


def test_a_perceive_path_that_does_not_exist_is_one_line_and_exit_2(tmp_path):
    done = run_cli(["run", "task=vqa", "backbone=llama3", f"data.perceive={tmp_path / 'none.json'}", "--dry-run"],
                   home=tmp_path / "home")
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "data.perceive=" in done.stderr and "neither scene, none nor an existing file or folder" in done.stderr
