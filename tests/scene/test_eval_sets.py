"""Evaluation sets of a scene build: perturbation sets aligned doc by doc with vqa_scene, capability groups
on every doc, and an assistant turn in every instruction row."""
import random

import datasets
import numpy as np
import pytest

from harness_plugins.scene.dataset import PERTURBED_TASKS, SceneDataSizes, ensure_scene_data
from harness_plugins.scene.language import VQA_TYPES, vqa_questions
from harness_plugins.scene.model import COLOURS, SHAPES, generate_scene
from harness_plugins.scene.perturb import NOISE_SIGMA, paraphrase

SMALL = SceneDataSizes(align=10, instruct=60, eval=30, image_size=32)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return ensure_scene_data(tmp_path_factory.mktemp("scene"), seed=5, sizes=SMALL)


def _test_split(folder, task):
    return datasets.load_from_disk(str(folder / task))["test"]


def test_perturbed_sets_are_doc_aligned_copies_of_vqa_scene(built):
    clean = _test_split(built, "vqa_scene")
    assert PERTURBED_TASKS == ("vqa_scene_pixel_noise", "vqa_scene_paraphrase")
    noisy, reworded = (_test_split(built, t) for t in PERTURBED_TASKS)
    assert len(noisy) == len(reworded) == len(clean) == SMALL.eval
    for a, n, r in zip(clean, noisy, reworded):
        assert a["id"] == n["id"] == r["id"] and a["answer"] == n["answer"] == r["answer"]
        assert a["qtype"] == n["qtype"] == r["qtype"] and a["scene"] == n["scene"] == r["scene"]
        # pixel noise: same prompt, image moved by about NOISE_SIGMA levels
        assert n["prompt"] == a["prompt"]
        diff = np.asarray(n["image"], dtype=float) - np.asarray(a["image"], dtype=float)
        assert 0.5 * NOISE_SIGMA < diff.std() < 1.5 * NOISE_SIGMA
        # paraphrase: same image, different question, same answer hint
        assert np.array_equal(np.asarray(r["image"]), np.asarray(a["image"]))
        assert r["prompt"] != a["prompt"]
        assert r["prompt"].split("\n")[1:] == a["prompt"].split("\n")[1:]


def test_every_question_form_has_a_rewording_keeping_its_content_words():
    seen = set()
    for seed in range(300):
        scene = generate_scene(random.Random(seed))
        for q in vqa_questions(scene, seed, n=len(VQA_TYPES)):
            new = paraphrase(q.question)
            assert new != q.question and not new.startswith("Looking at the image"), q.question
            words = {w.strip("?,:").rstrip("s") for w in q.question.split()}
            content = words & (set(COLOURS) | set(SHAPES))
            assert content <= {w.strip("?,:").rstrip("s") for w in new.split()}, (q.question, new)
            seen.add(q.qtype)
    assert seen == set(VQA_TYPES)


def test_instruction_rows_all_have_a_supervised_turn(built):
    rows = datasets.load_from_disk(str(built / "instruct"))
    assert all(len(r["conversations"]) >= 2 and r["conversations"][-1]["from"] == "gpt" for r in rows)


def test_eval_docs_carry_their_capability_group(built):
    for task in ("vqa_scene", "scene_description", "coordinate_prediction"):
        for row in _test_split(built, task):
            expected = {"count": "reasoning", "compare": "reasoning", "spatial": "reasoning",
                        "composition": "reasoning", "coordinate": "structured-output"}.get(row["qtype"], "perception")
            assert row["capability"] == expected, row["qtype"]
