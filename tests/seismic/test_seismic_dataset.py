"""The seismic build: datasets folders with a manifest, splits that share no section, reproducible."""
import json

import datasets
import pytest

from harness.errors import HarnessError
from harness_plugins.seismic.dataset import (
    EVAL_TASKS,
    MANIFEST,
    TRAIN_SPLIT,
    VALIDATION_TASKS,
    SeismicDataSizes,
    data_dir,
    ensure_seismic_data,
    read_manifest,
)
from harness_plugins.seismic.language import DESCRIBE_PROMPT, describe
from harness_plugins.seismic.model import GENERATOR_VERSION, Section

SIZES = SeismicDataSizes(train=20, eval=15, validation=10, image_size=32)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return ensure_seismic_data(tmp_path_factory.mktemp("seismic"), seed=3, sizes=SIZES)


def _load(folder, split):
    loaded = datasets.load_from_disk(str(folder / split))
    return loaded["test"] if isinstance(loaded, datasets.DatasetDict) else loaded


def test_manifest_records_generator_version_seed_sizes_and_counts(built):
    manifest = read_manifest(built)
    assert manifest["generator_version"] == GENERATOR_VERSION and manifest["seed"] == 3
    assert manifest["sizes"] == {"train": 20, "eval": 15, "validation": 10, "image_size": 32}
    assert manifest["counts"] == {**{t: 15 for t in EVAL_TASKS}, **{t: 10 for t in VALIDATION_TASKS}, TRAIN_SPLIT: 20}
    assert len(manifest["fingerprint"]) == 16


def test_eval_and_validation_splits_are_test_splits_of_a_dataset_dict(built):
    for task in EVAL_TASKS + VALIDATION_TASKS:
        loaded = datasets.load_from_disk(str(built / task))
        assert list(loaded) == ["test"]
        assert set(loaded["test"].column_names) == {"id", "image", "prompt", "answer", "qtype", "capability", "section"}


def test_no_two_splits_share_a_section(built):
    seen: dict[str, str] = {}
    for split in (*EVAL_TASKS, *VALIDATION_TASKS, TRAIN_SPLIT):
        for row in _load(built, split):
            annotation = json.loads(row["section"])
            annotation.pop("noise_seed")  # the same structures with other noise would still be the same section
            key = json.dumps(annotation, sort_keys=True)
            assert key not in seen, f"{split} shares a section with {seen.get(key)}"
            seen[key] = split


def test_rows_carry_the_annotation_the_answer_was_made_from(built):
    description = _load(built, "seismic_description")
    for row in description:
        section = Section.from_dict(json.loads(row["section"]))
        assert row["prompt"] == DESCRIBE_PROMPT and row["answer"] == describe(section)
        assert row["capability"] == "perception" and row["image"].size == (32, 32)
    coordinates = _load(built, "seismic_coordinates")
    assert {row["capability"] for row in coordinates} == {"structured-output"}
    assert all(set(json.loads(row["answer"])) == {"x", "y"} for row in coordinates)
    assert any(row["qtype"].startswith("fault_") for row in coordinates)


def test_train_rows_are_llava_conversations_with_the_image_first(built):
    train = _load(built, TRAIN_SPLIT)
    row = train[0]
    assert row["conversations"][0]["value"].startswith("<image>\n") and len(row["conversations"]) == 4
    assert row["qtypes"][0] == "description"


def test_same_seed_builds_identical_data_and_reuses_a_current_build(tmp_path, built):
    assert ensure_seismic_data(built.parent, seed=3, sizes=SIZES) == built  # reused, not rebuilt
    again = ensure_seismic_data(tmp_path, seed=3, sizes=SIZES)
    for split in ("seismic_coordinates", TRAIN_SPLIT):
        a, b = _load(built, split), _load(again, split)
        assert a["section"] == b["section"]
        assert [r["image"].tobytes() for r in a] == [r["image"].tobytes() for r in b]
    other = ensure_seismic_data(tmp_path, seed=4, sizes=SIZES)
    assert _load(other, TRAIN_SPLIT)["section"] != _load(built, TRAIN_SPLIT)["section"]


def test_a_build_of_another_generator_version_is_replaced(tmp_path):
    sizes = SeismicDataSizes(train=2, eval=2, validation=2, image_size=16)
    out = ensure_seismic_data(tmp_path, seed=0, sizes=sizes)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["fingerprint"], manifest["generator_version"] = "from-version-0", "0"
    (out / MANIFEST).write_text(json.dumps(manifest))
    ensure_seismic_data(tmp_path, seed=0, sizes=sizes)
    assert read_manifest(out)["generator_version"] == GENERATOR_VERSION


def test_folder_without_manifest_is_a_one_line_error(tmp_path):
    with pytest.raises(HarnessError, match="is not a seismic data build"):
        read_manifest(tmp_path)


def test_default_sizes_get_the_short_folder_name(tmp_path):
    assert data_dir(tmp_path, 2).name == "seed2"
    assert data_dir(tmp_path, 2, SIZES).name.startswith("seed2-")
