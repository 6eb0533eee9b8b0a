"""LLaVA's group_by_modality_length in the stage order: modalities apart, micro-batches balanced, less
padding than a plain shuffle, every sample once per epoch, and an exact resume."""
import pytest
import torch

from harness_plugins.data.records import Record
from harness_plugins.recipes.llava15.order import StageOrder
from harness_plugins.recipes.llava15.samples import modality_length, modality_lengths
from harness_plugins.recipes.llava15.stage import StagePlan, run_stage


def _mixed_lengths(n=400, seed=0):
    """Like LLaVA's mix: mostly image samples of short to medium length, some long text-only ones."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        if i % 8 == 0:
            out.append(-int(torch.randint(200, 1500, (1,), generator=gen)))
        else:
            out.append(int(torch.randint(5, 300, (1,), generator=gen)))
    return out


def _steps(order):
    return [order.micro_batches(step, 0) for step in range(order.total_steps)]


def _padding(order, tokens):
    """Padded positions / all positions over every micro-batch of the stage."""
    padded = total = 0
    for step in _steps(order):
        for micro in step:
            longest = max(tokens[i] for i in micro)
            padded += sum(longest - tokens[i] for i in micro)
            total += longest * len(micro)
    return padded / total


def test_image_and_text_only_samples_share_no_global_batch_but_the_leftovers_one():
    lengths = _mixed_lengths()
    order = StageOrder(len(lengths), 32, 4, 1, seed=0, lengths=lengths)
    mixed = [step for step in _steps(order) if len({lengths[i] > 0 for mb in step for i in mb}) == 2]
    assert len(mixed) <= 1
    seen = [i for step in _steps(order) for mb in step for i in mb]
    assert len(seen) == len(set(seen)) == order.total_steps * 32


def test_ranks_run_the_micro_batches_one_process_would_and_alike_ones_at_once():
    lengths = _mixed_lengths()
    one = StageOrder(len(lengths), 32, 4, 1, seed=1, lengths=lengths)
    two = StageOrder(len(lengths), 32, 4, 2, seed=1, lengths=lengths)  # 2 ranks x 4 accumulation
    for step in range(one.total_steps):
        ranks = two.micro_batches(step, 0), two.micro_batches(step, 1)
        assert sorted(ranks[0] + ranks[1]) == sorted(one.micro_batches(step, 0))
        for first, second in zip(*ranks):  # run at the same time: neighbours in length order
            assert min(abs(lengths[i]) for i in first) >= max(abs(lengths[i]) for i in second)


def test_grouping_pads_less_than_a_plain_shuffle():
    lengths = _mixed_lengths()
    tokens = [abs(n) + (576 if n > 0 else 0) for n in lengths]  # image samples carry 576 image tokens
    plain = _padding(StageOrder(len(lengths), 32, 4, 1, seed=0), tokens)
    grouped = _padding(StageOrder(len(lengths), 32, 4, 1, seed=0, lengths=lengths), tokens)
    assert grouped < plain * 0.5


def test_the_order_depends_only_on_seed_and_lengths_and_covers_each_epoch():
    lengths = _mixed_lengths(96)
    a = StageOrder(96, 16, 4, 1, seed=5, epochs=2, lengths=lengths)
    b = StageOrder(96, 16, 4, 1, seed=5, epochs=2, lengths=list(lengths))
    assert _steps(a) == _steps(b) and _steps(a) != _steps(StageOrder(96, 16, 4, 1, seed=6, epochs=2, lengths=lengths))
    first = sorted(i for step in _steps(a)[:6] for mb in step for i in mb)
    second = sorted(i for step in _steps(a)[6:] for mb in step for i in mb)
    assert first == second == list(range(96))


def test_one_modality_still_groups_by_length():
    lengths = [n for n in _mixed_lengths() if n > 0][:320]
    order = StageOrder(len(lengths), 32, 4, 1, seed=0, lengths=lengths)
    seen = sorted(i for step in _steps(order) for mb in step for i in mb)
    assert seen == list(range(len(lengths))) and _steps(order) != _steps(StageOrder(len(lengths), 32, 4, 1, seed=0))


def test_modality_length_counts_words_and_signs_text_only_records():
    turns = [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A red cube."},
             {"from": "human", "value": "And left?"}, {"from": "gpt", "value": "Nothing."}]
    assert modality_length(turns, True) == 10 and modality_length(turns, False) == -10
    assert modality_length(turns, True, first_exchange_only=True) == 7
    records = [Record("a", "img.png", turns), Record("b", None, turns[:2])]
    from harness_plugins.recipes.llava15.samples import RenderedSamples

    assert RenderedSamples(records, None, None, 64, 4, 9).modality_lengths() == [10, -7]
    assert modality_lengths([{"input_ids": [1] * 5, "pixel_values": 0}, {"input_ids": [1] * 3}]) == [5, -3]


def test_dataset_folder_lengths_are_read_without_decoding_images(tmp_path):
    import datasets
    from PIL import Image

    from harness_plugins.data.loader import load_dataset_folder

    turns = [{"from": "human", "value": "<image>\nColour?"}, {"from": "gpt", "value": "red"}]
    rows = {"id": ["a", "b"], "image": [Image.new("RGB", (4, 4)), None],
            "conversations": [turns, [{"from": "human", "value": "Hi there"}, {"from": "gpt", "value": "Hello"}]]}
    datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image()).save_to_disk(str(tmp_path / "d"))
    records = load_dataset_folder(tmp_path / "d")
    from harness_plugins.recipes.llava15.samples import RenderedSamples

    assert RenderedSamples(records, None, None, 64, 4, 9).modality_lengths() == [3, -3]


def test_a_grouped_stage_resumes_with_the_same_losses(tiny, tmp_path):
    samples = tiny.tiny_samples(48)
    for i in range(0, 48, 6):  # text-only samples: no image tokens, no pixels
        samples[i] = {"input_ids": [1, 5, 6, 7, 8, 9][: 3 + i % 4] + [20, 2], "labels": [-100] * (3 + i % 4) + [20, 2]}
    plan = dict(name="finetune", lr=5e-3, global_batch=8, micro_batch=4, train_llm=True, zero_stage=2, seed=3,
                checkpoint_every=2, group_by_modality_length=True)

    def run(where, resume=False, **kw):
        return run_stage(StagePlan(**(plan | kw)), tiny.build_tiny_llava(), samples, tiny.PAD, tmp_path / where / "s",
                         tmp_path / where / "m.jsonl", resume=resume)

    full = run("full")
    run("part", stop_after_step=2)
    resumed = run("part", resume=True)
    assert full.steps == 6 and resumed.losses == pytest.approx(full.losses[2:], abs=1e-6)
    plain = run("plain", group_by_modality_length=False)
    assert plain.losses != pytest.approx(full.losses, abs=1e-6)  # the grouping changed the order
