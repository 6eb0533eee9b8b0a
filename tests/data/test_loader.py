"""LLaVA-format JSON and datasets folders load into the same Record form; bad rows are named."""
import json

import datasets
import pytest
from PIL import Image

from harness.errors import HarnessError
from harness_plugins.data import load_llava_json, load_training_data, open_image
from harness_plugins.scene.dataset import SceneDataSizes, ensure_scene_data


def _conv(first="<image>\nWhat is this?", answer="a cat"):
    return [{"from": "human", "value": first}, {"from": "gpt", "value": answer}]


@pytest.fixture
def llava(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (8, 8), "red").save(images / "a.png")
    rows = [
        {"id": "ok", "image": "a.png", "conversations": _conv()},
        {"id": "text-only", "conversations": _conv(first="Hello")},
        {"id": "missing", "image": "nope.png", "conversations": _conv()},
        {"id": "no-token", "image": "a.png", "conversations": _conv(first="What is this?")},
        {"id": "bad-role", "image": "a.png",
         "conversations": [{"from": "user", "value": "<image>"}, {"from": "gpt", "value": "x"}]},
    ]
    path = tmp_path / "train.json"
    path.write_text(json.dumps(rows))
    return path, images


def test_good_rows_load_as_records_with_image_paths_under_the_root(llava):
    path, images = llava
    data = load_llava_json(path, images, on_bad_row="skip")
    assert [r.id for r in data] == ["ok", "text-only"]
    assert data[0].image == str(images / "a.png") and data[1].image is None
    assert data[0].conversations == _conv()
    assert open_image(data[0]).size == (8, 8)


def test_bad_rows_stop_the_load_naming_row_ids_and_the_fix(llava):
    path, images = llava
    with pytest.raises(HarnessError) as err:
        load_llava_json(path, images)
    text = str(err.value)
    assert "3 bad row(s)" in text and "row missing: image file" in text
    assert "row no-token" in text and "row bad-role: turn 0 has unknown role 'user'" in text
    assert "data.on_bad_row=skip" in text and "\n" not in text


def test_skip_drops_bad_rows_and_reports_how_many(llava):
    path, images = llava
    data = load_llava_json(path, images, on_bad_row="skip")
    assert len(data.skipped) == 3 and {b.row for b in data.skipped} == {"missing", "no-token", "bad-role"}


def test_corrupt_image_is_a_one_line_error_naming_file_and_row(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    path = tmp_path / "train.json"
    path.write_text(json.dumps([{"id": "r7", "image": "broken.jpg", "conversations": _conv()}]))
    record = load_llava_json(path)[0]
    with pytest.raises(HarnessError, match=r"corrupt image .*broken.jpg in row 'r7'"):
        open_image(record)


def test_a_truncated_training_image_fails_even_when_a_library_made_pil_lenient(tmp_path):
    """lmms-eval sets PIL's LOAD_TRUNCATED_IMAGES for the whole process; in a sweep the cells that train
    after an evaluation must still refuse a cut file instead of training on grey padding."""
    from PIL import ImageFile

    Image.new("RGB", (64, 64), (9, 8, 7)).save(tmp_path / "whole.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "whole.png").read_bytes()[:80])
    path = tmp_path / "train.json"
    path.write_text(json.dumps([{"id": "r1", "image": "cut.png", "conversations": _conv()}]))
    record = load_llava_json(path)[0]
    lenient = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(HarnessError, match=r"corrupt image .*cut.png in row 'r1'"):
            open_image(record)
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the process-wide setting is left as it was
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient


def test_invalid_json_and_unknown_mode_are_one_line_errors(tmp_path):
    path = tmp_path / "train.json"
    path.write_text("[{oops")
    with pytest.raises(HarnessError, match="is not valid JSON"):
        load_llava_json(path)
    with pytest.raises(HarnessError, match="on_bad_row='drop'"):
        load_llava_json(path, on_bad_row="drop")


def test_scene_data_loads_into_the_same_record_form(tmp_path):
    build = ensure_scene_data(tmp_path, seed=0, sizes=SceneDataSizes(align=3, instruct=5, eval=2, image_size=16))
    data = load_training_data(build / "instruct")
    assert len(data) == 5 and not data.skipped
    record = data[0]
    assert record.id == "instruct-000000" and record.conversations[0]["value"].startswith("<image>")
    assert open_image(record).size == (16, 16)


def test_dataset_folder_bad_rows_are_reported_by_id(tmp_path):
    rows = [{"id": "good", "image": Image.new("RGB", (4, 4)), "conversations": _conv()},
            {"id": "bad", "image": Image.new("RGB", (4, 4)), "conversations": _conv(first="no token")}]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    with pytest.raises(HarnessError, match="row bad: an image is given but no human turn contains <image>"):
        load_training_data(tmp_path / "ds")
    data = load_training_data(tmp_path / "ds", on_bad_row="skip")
    assert [r.id for r in data] == ["good"] and len(data.skipped) == 1


def test_folder_that_is_not_a_dataset_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="is not a datasets folder"):
        load_training_data(tmp_path / "empty")
