"""Which records each stage trains on: the scene world's own splits, or LLaVA JSON files (one file
for both stages, or LLaVA-1.5's split of stage-1 pairs and stage-2 instructions via data.align)."""
from __future__ import annotations

import json
from types import SimpleNamespace

from PIL import Image

from harness_plugins.recipes.llava15.parts import training_records


def _json(folder, name, rows):
    for row in rows:
        if row.get("image"):
            Image.new("RGB", (8, 8), (200, 0, 0)).save(folder / row["image"])
    (folder / name).write_text(json.dumps(rows))
    return str(folder / name)


def _row(i, image=True, turns=1):
    conv = []
    for t in range(turns):
        conv += [{"from": "human", "value": ("<image>\n" if image and t == 0 else "") + f"q{t}"},
                 {"from": "gpt", "value": f"a{t}"}]
    return {"id": f"r{i}", **({"image": f"{i}.png"} if image else {}), "conversations": conv}


def _cfg(train, align=None, root=None):
    return SimpleNamespace(data=SimpleNamespace(train=train, image_root=root, align=align, align_image_root=None,
                                                on_bad_row="error", scene_seed=0, seismic="false"))


def test_one_file_feeds_both_stages_align_taking_its_image_rows(tmp_path):
    train = _json(tmp_path, "mix.json", [_row(0), _row(1, image=False), _row(2, turns=2)])
    align, finetune, _ = training_records(_cfg(train, root=str(tmp_path)))
    assert [r.id for r in align] == ["r0", "r2"] and [r.id for r in finetune] == ["r0", "r1", "r2"]


def test_data_align_gives_stage_one_its_own_file(tmp_path):
    train = _json(tmp_path, "instruct.json", [_row(i, turns=2) for i in range(3)])
    pairs = _json(tmp_path, "pairs.json", [_row(i) for i in range(10, 15)])
    align, finetune, about = training_records(_cfg(train, align=pairs, root=str(tmp_path)))
    assert [r.id for r in align] == [f"r{i}" for i in range(10, 15)]
    assert [r.id for r in finetune] == ["r0", "r1", "r2"]
    assert "pairs.json: 5 align pairs" in about
