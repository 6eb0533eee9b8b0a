"""How recipe.max_length cuts the training data is counted per stage (over the samples the stage
rendered) and shown in the run report: the samples it cuts and the supervised (assistant) tokens lost,
against the untruncated rendering."""
import pytest

from harness.cli.config_cmds import resolve_cells
from harness_plugins.data.records import Record
from harness_plugins.recipes.llava15.parts import build_parts
from harness_plugins.recipes.llava15.samples import IGNORE_INDEX, RenderedSamples

ANSWER = "There is a small red circle at the top left and a large blue square at the bottom right."


@pytest.fixture(scope="module")
def parts():
    (resolved,) = resolve_cells(("backbone=llama2",), multirun=False)
    return build_parts(resolved.config)


def _records(turns_per_record):
    """Conversations of 1, 2, ... question-answer turns (the first with the image placeholder)."""
    out = []
    for i, turns in enumerate(turns_per_record):
        conv = []
        for t in range(turns):
            conv.append({"from": "human", "value": ("<image>\n" if t == 0 else "") + f"Describe the scene, part {t}."})
            conv.append({"from": "gpt", "value": ANSWER})
        out.append(Record(f"r{i}", None, conv))
    return out


def test_truncation_counts_the_samples_and_supervised_tokens_max_length_cuts(parts):
    records = _records([1, 2, 4, 6, 1, 8])
    full = [parts.render_finetune(r.conversations, r.id) for r in records]
    max_length = sorted(len(f.input_ids) for f in full)[2] + 1  # the three shortest fit, the three longest do not
    expected_cut = [sum(1 for label in f.labels[max_length:] if label != IGNORE_INDEX) for f in full]
    samples = RenderedSamples(records, parts.render_finetune, parts.processor.image_processor, max_length,
                              parts.num_image_tokens, parts.image_token_id)
    assert samples.truncation()["samples"] == 0  # counted over what was rendered: nothing yet
    assert all(len(samples.tokens(i)[0]) <= max_length for i in (0, 5))  # rendered (and cut) as a stage does
    assert samples.truncation() == {"max_length": max_length, "samples": 2, "truncated": 1,
                                    "supervised_tokens_cut": expected_cut[5]}
    assert all(len(samples.tokens(i)[0]) <= max_length for i in range(6))
    assert samples.truncation() == {"max_length": max_length, "samples": 6, "truncated": 3,
                                    "supervised_tokens_cut": sum(expected_cut)}
    assert sum(expected_cut) > 0


def test_nothing_is_cut_when_everything_fits(parts):
    records = _records([1, 2])
    samples = RenderedSamples(records, parts.render_finetune, parts.processor.image_processor, 4096,
                              parts.num_image_tokens, parts.image_token_id)
    samples.tokens(0), samples.tokens(1)
    assert samples.truncation() == {"max_length": 4096, "samples": 2, "truncated": 0, "supervised_tokens_cut": 0}


def test_the_run_report_says_how_many_samples_max_length_cut(tmp_path):
    """From the recipe's training summary (as train.py writes it) to the line under the run's tables."""
    import json

    from rich.console import Console

    from harness.pipeline import training_stages, training_throughput
    from harness.run_report import print_run_report
    from harness.store import MetricRow, RunRecord, open_store

    checkpoint = tmp_path / "train" / "model"
    checkpoint.mkdir(parents=True)
    cut = {"max_length": 256, "samples": 5000, "truncated": 823, "supervised_tokens_cut": 9000}
    stages = {"align": {"tokens_per_s": 6000.0, "truncation": dict(cut, samples=3000, truncated=0)},
              "finetune": {"tokens_per_s": 4000.0, "truncation": cut}}
    (checkpoint.parent / "training_summary.json").write_text(json.dumps({"stages": stages}))
    timings = {"train_s": 12.0, **training_throughput(training_stages(checkpoint))}
    assert timings["finetune_truncated_samples"] == 823 and timings["finetune_samples"] == 5000
    with open_store(tmp_path / "r.sqlite") as store:
        store.add_run(RunRecord("a", "vqa_scene", "llama2", "tiny", "clip", "llava15", {}, "ra", "t", "c",
                                timings=timings), [MetricRow("vqa_scene", "exact_match", 0.5, 0.02, True, True)])
        console = Console(width=300, record=True)
        print_run_report(store, "a", console)
    text = console.export_text()
    assert "finetune cut 823 of 5,000 samples at recipe.max_length" in text
    assert "align cut" not in text  # nothing cut, nothing said
