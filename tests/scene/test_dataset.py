"""Scene datasets: built once, reused, split-disjoint, LLaVA-shaped, atomically written."""
import hashlib
import itertools
import json

import datasets
import pytest

from harness.errors import HarnessError
from harness_plugins.scene.dataset import (
    EVAL_TASKS,
    PERTURBED_TASKS,
    MANIFEST,
    SceneDataSizes,
    build_scene_data,
    data_dir,
    ensure_scene_data,
    read_manifest,
)

SMALL = SceneDataSizes(align=40, instruct=40, eval=25, image_size=32)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return ensure_scene_data(tmp_path_factory.mktemp("scene"), seed=3, sizes=SMALL)


def _load(folder, split):
    ds = datasets.load_from_disk(str(folder / split))
    return ds["test"] if isinstance(ds, datasets.DatasetDict) else ds


def test_manifest_records_seed_version_and_counts(built):
    manifest = read_manifest(built)
    assert manifest["seed"] == 3
    assert manifest["generator_version"]
    assert manifest["counts"] == {**SMALL.counts(), **{t: SMALL.eval for t in PERTURBED_TASKS}}
    for split, n in SMALL.counts().items():
        assert len(_load(built, split)) == n


def _rows(folder, split):
    ds = datasets.load_from_disk(str(folder / split))
    return [row for part in (ds.values() if isinstance(ds, datasets.DatasetDict) else [ds]) for row in part]


def _questions(row):
    """What the row asks about its image: the eval prompt, each human turn, or the caption request."""
    if "prompt" in row:
        return [row["prompt"]]
    return [t["value"].removeprefix("<image>").strip() for t in row["conversations"] if t["from"] == "human"]


def _contents(folder, split):
    """A split's images, annotated scenes (objects) and (image, question) pairs."""
    images, scenes, pairs = set(), set(), set()
    for row in _rows(folder, split):
        image = hashlib.sha256(row["image"].tobytes()).hexdigest()
        images.add(image)
        pairs.update((image, q) for q in _questions(row))
        if "scene" in row:
            scenes.add(json.dumps(json.loads(row["scene"])["objects"], sort_keys=True))
    return {"image": images, "scene": scenes, "(image, question) pair": pairs}


def _split_pairs(manifest):
    """Every pair of splits of the build, training against evaluation first; a perturbed copy of
    vqa_scene is its docs by design and is paired with vqa_scene's own training/eval neighbours only."""
    splits = list(manifest["counts"])
    evaluation = [s for s in splits if s in manifest["eval_tasks"]]
    training = [s for s in splits if s not in evaluation]
    family = {"vqa_scene", *PERTURBED_TASKS}
    ordered = ([(t, e) for t in training for e in evaluation] + list(itertools.combinations(evaluation, 2))
               + list(itertools.combinations(training, 2)))
    return [(a, b) for a, b in ordered if not {a, b} <= family]


def test_no_two_splits_share_an_image_a_scene_or_a_scene_question_pair(built):
    manifest = read_manifest(built)
    assert set(manifest["counts"]) >= {"align", "instruct", *EVAL_TASKS}
    contents = {split: _contents(built, split) for split in manifest["counts"]}
    leaks = [f"{a} and {b} share {len(shared)} {kind}(s)"
             for a, b in _split_pairs(manifest) for kind in contents[a]
             if (shared := contents[a][kind] & contents[b][kind])]
    assert not leaks, "; ".join(leaks)


def test_align_rows_are_plain_llava_pairs(built):
    row = _load(built, "align")[0]
    assert row["image"].size == (32, 32) and row["image"].mode == "RGB"
    assert row["conversations"] == [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": row["caption"]}]


def test_instruct_rows_mix_task_types_with_image_in_first_human_turn(built):
    rows = _load(built, "instruct")
    kinds = set()
    for row in rows:
        conv = row["conversations"]
        assert [t["from"] for t in conv] == ["human", "gpt"] * (len(conv) // 2)
        assert conv[0]["value"].startswith("<image>\n")
        assert all("<image>" not in t["value"] for t in conv[1:])
        kinds.update(row["qtypes"])
    assert {"description", "coordinate"} <= kinds and len(kinds) >= 6


def test_eval_sets_carry_prompt_answer_type_and_annotation(built):
    vqa = _load(built, "vqa_scene")
    assert {r["qtype"] for r in vqa} > {"colour", "count"}
    coords = _load(built, "coordinate_prediction")[0]
    assert set(json.loads(coords["answer"])) == {"x", "y"}
    desc = _load(built, "scene_description")[0]
    assert desc["answer"].startswith("There ")


def test_second_call_reuses_the_build(built):
    stamp = (built / MANIFEST).stat().st_mtime_ns
    assert ensure_scene_data(built.parent, seed=3, sizes=SMALL) == built
    assert (built / MANIFEST).stat().st_mtime_ns == stamp


def test_same_seed_builds_identical_data(tmp_path, built):
    again = build_scene_data(tmp_path / "again", seed=3, sizes=SMALL)
    for split in ("align", "vqa_scene"):
        a, b = _load(built, split), _load(again, split)
        assert a["id"] == b["id"]
        assert [r["image"].tobytes() for r in a] == [r["image"].tobytes() for r in b]


def test_stale_build_is_replaced(tmp_path):
    sizes = SceneDataSizes(align=3, instruct=3, eval=3, image_size=16)
    out = ensure_scene_data(tmp_path, seed=0, sizes=sizes)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["fingerprint"] = "from-an-older-generator"
    (out / MANIFEST).write_text(json.dumps(manifest))
    ensure_scene_data(tmp_path, seed=0, sizes=sizes)
    assert read_manifest(out)["fingerprint"] != "from-an-older-generator"


def test_failed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    import harness_plugins.scene.dataset as mod

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(mod, "_features", broken)
    with pytest.raises(RuntimeError):
        ensure_scene_data(tmp_path, seed=0, sizes=SceneDataSizes(align=2, instruct=2, eval=2, image_size=16))
    assert list(tmp_path.iterdir()) == []


def test_folder_without_manifest_is_a_one_line_error(tmp_path):
    with pytest.raises(HarnessError, match="not a scene data build"):
        read_manifest(tmp_path)


def test_default_sizes_get_the_short_folder_name(tmp_path):
    assert data_dir(tmp_path, 0).name == "seed0"
    assert data_dir(tmp_path, 0, SMALL).name.startswith("seed0-")
