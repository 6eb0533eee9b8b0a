"""The blind baseline: the same items with every image blanked, evaluated by the same model and stored
beside the task as ``<task>@blind``."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from rich.console import Console

from harness.evaluation.runner import evaluate
from harness.leaderboard import build_leaderboard, render
from harness.run_report import print_run_report
from harness.store import MetricRow, RunRecord, open_store


def _with_projector_scaled(checkpoint, out, scale):
    """A copy of ``checkpoint`` whose projector output is multiplied by ``scale``: large, the answers
    depend strongly on the image; zero, every image reaches the LLM as the same zero vectors (text-only)."""
    import torch
    from transformers import LlavaForConditionalGeneration

    shutil.copytree(checkpoint, out)
    model = LlavaForConditionalGeneration.from_pretrained(checkpoint)
    with torch.no_grad():
        for param in model.model.multi_modal_projector.linear_2.parameters():
            param.mul_(scale)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def seeing_checkpoint(tiny_checkpoint, tmp_path_factory):
    return _with_projector_scaled(tiny_checkpoint, tmp_path_factory.mktemp("seeing") / "llava", 30.0)


@pytest.fixture(scope="module")
def text_only_checkpoint(tiny_checkpoint, tmp_path_factory):
    return _with_projector_scaled(tiny_checkpoint, tmp_path_factory.mktemp("text") / "llava", 0.0)


def _answers(result, task):
    return {s.doc_id: s.prediction for s in result.samples if s.task == task}


def test_blind_answers_change_on_a_checkpoint_that_uses_the_image(seeing_checkpoint, tiny_tasks, tmp_path):
    result = evaluate(seeing_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "out", batch_size=4,
                      blind_tasks=["toy_colour"])
    seeing, blind = _answers(result, "toy_colour"), _answers(result, "toy_colour@blind")
    assert sorted(blind) == sorted(seeing) == list(range(12))
    assert sum(seeing[d] != blind[d] for d in seeing) >= 4
    assert len(set(blind.values())) < len(set(seeing.values()))  # one blank image for every doc
    assert {m.metric for m in result.metrics if m.task == "toy_colour@blind"} == \
        {m.metric for m in result.metrics if m.task == "toy_colour"}
    assert [m.primary for m in result.metrics if m.task == "toy_colour@blind"] == [True]
    assert (tmp_path / "out" / "blind").is_dir() and result.num_samples["toy_colour@blind"] == 12


def test_blind_answers_equal_the_seeing_ones_on_a_checkpoint_that_ignores_the_image(text_only_checkpoint, tiny_tasks,
                                                                                     tmp_path):
    result = evaluate(text_only_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "out", batch_size=4,
                      blind_tasks=["toy_colour"])
    assert _answers(result, "toy_colour@blind") == _answers(result, "toy_colour")


def test_blind_answers_are_cached_under_keys_of_their_own(seeing_checkpoint, tiny_tasks, tmp_path):
    seeing = evaluate(seeing_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "a", batch_size=4, limit=6,
                      cache_dir=tmp_path / "cache")
    both = evaluate(seeing_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "b", batch_size=4, limit=6,
                    cache_dir=tmp_path / "cache", blind_tasks=["toy_colour"])
    assert (seeing.computed, both.computed, both.cache_hits) == (6, 6, 6)  # only the blind pass ran the model
    again = evaluate(seeing_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "c", batch_size=4, limit=6,
                     cache_dir=tmp_path / "cache", blind_tasks=["toy_colour"])
    assert (again.computed, again.cache_hits) == (0, 12)
    assert _answers(again, "toy_colour@blind") == _answers(both, "toy_colour@blind") != _answers(again, "toy_colour")


def test_the_blank_image_keeps_the_size_and_normalises_to_zero(seeing_checkpoint):
    from PIL import Image
    from transformers import AutoProcessor

    from harness.evaluation.model import blank_colour, blank_like

    processor = AutoProcessor.from_pretrained(seeing_checkpoint)
    image = Image.new("RGB", (20, 12), (200, 10, 10))
    blank = blank_like(image, blank_colour(processor))
    assert blank.size == (20, 12) and len(blank.getcolors()) == 1
    pixels = processor.image_processor(blank, return_tensors="np")["pixel_values"]
    assert np.abs(pixels).max() < 0.02  # the mean colour, less rounding to 8 bits


def test_blind_tasks_must_be_evaluated_tasks(seeing_checkpoint, tiny_tasks, tmp_path):
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="blind baseline asked for tasks not evaluated"):
        evaluate(seeing_checkpoint, ["toy_colour"], str(tiny_tasks), tmp_path / "out", blind_tasks=["toy_colour_mc"])
    assert not (tmp_path / "out").exists()


def _store_run(store, run_id, backbone, value, blind):
    rows = [MetricRow("vqa_scene", "exact_match", value, 0.02, True, True),
            MetricRow("vqa_scene", "majority_baseline", 0.38)]
    if blind is not None:
        rows += [MetricRow("vqa_scene@blind", "exact_match", blind, 0.02, True, True),
                 MetricRow("vqa_scene@blind", "majority_baseline", 0.38)]
    store.add_run(RunRecord(run_id, "vqa_scene", backbone, "tiny", "clip", "llava15", {}, f"r{run_id}", "t", "c"), rows)


def test_the_run_report_and_the_leaderboard_show_the_blind_score_beside_the_score(tmp_path):
    with open_store(tmp_path / "r.sqlite") as store:
        _store_run(store, "a", "llama1", 0.81, 0.40)
        _store_run(store, "b", "llama3", 0.90, None)
        console = Console(width=200, record=True)
        print_run_report(store, "a", console)
        board = build_leaderboard(store)
    text = console.export_text()
    assert "vqa_scene@blind" not in text and text.splitlines()[2].split()[-2:] == ["blind", "┃"]
    row = next(line for line in text.splitlines() if "exact_match" in line)
    assert row.replace("│", " ").split() == ["exact_match", "0.8100", "0.0200", "0.4000"]
    assert board.tasks == ["vqa_scene"]
    assert board.cells[("llama1 (tiny)", "vqa_scene")].blind == 0.40
    assert board.cells[("llama3 (tiny)", "vqa_scene")].blind is None
    assert "0.8100 ± 0.0200 (blind 0.4000)" in render(board, "markdown")


def test_scene_tasks_collect_what_the_analyses_need_by_default_and_benchmarks_do_not():
    from harness.config.overrides import parse_overrides
    from harness.config.resolve import resolve
    from harness.plugin_manager import get_plugins

    for task, blind in (("vqa", True), ("description", True), ("coords", True), ("pope", False)):
        resolved = resolve(parse_overrides([f"task={task}"]), get_plugins())
        assert resolved.config.eval.blind is blind
        assert resolved.sources["eval.blind"] == ("task" if blind else "default")
        assert resolved.config.eval.save_hidden_states is (task == "vqa")
        assert resolved.config.eval.tasks == (["vqa_scene_pixel_noise", "vqa_scene_paraphrase"] if task == "vqa" else [])
