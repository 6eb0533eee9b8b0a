"""The prefetch pipeline: order kept, the next batch prepared while the current one is used,
errors raised where their batch is consumed, nothing left running after an early exit."""
from __future__ import annotations

import threading
import time

import pytest

from harness.evaluation.prefetch import prefetched


def test_items_come_out_in_order_with_their_prepared_value():
    assert list(prefetched([3, 1, 2], lambda x: x * 10)) == [(3, 30), (1, 10), (2, 20)]
    assert list(prefetched([], lambda x: x)) == []


def test_the_next_item_is_prepared_while_the_current_one_is_in_use():
    second_started = threading.Event()

    def prepare(item: int) -> int:
        if item == 1:
            second_started.set()
        return item

    overlapped = []
    for item, _ in prefetched([0, 1], prepare):
        if item == 0:  # without a worker thread, item 1 is only prepared after this body returns
            overlapped.append(second_started.wait(timeout=10))
    assert overlapped == [True]


def test_an_error_in_preparation_is_raised_when_its_batch_is_reached():
    def prepare(item: int) -> int:
        if item == 2:
            raise ValueError("bad image in batch 2")
        return item

    seen = []
    with pytest.raises(ValueError, match="bad image in batch 2"):
        for item, _ in prefetched([0, 1, 2, 3], prepare):
            seen.append(item)
    assert seen == [0, 1]


def test_leaving_early_cancels_what_has_not_started_and_stops_the_worker():
    prepared = []

    def prepare(item: int) -> int:
        time.sleep(0.01)
        prepared.append(item)
        return item

    for item, _ in prefetched(list(range(10)), prepare):
        if item == 1:
            break
    workers = [t for t in threading.enumerate() if t.name.startswith("harness-prefetch")]
    # item 2 was submitted as item 1 came out: it ran or was cancelled, nothing after it started
    assert prepared in ([0, 1], [0, 1, 2]) and not workers


def test_prefetching_harness_vlm_gives_the_answers_and_scores_of_the_serial_one(tiny_checkpoint, tiny_tasks):
    """Through lmms-eval's evaluator: generate_until (answers, confidences) and loglikelihood (choices)."""
    from lmms_eval import evaluator
    from lmms_eval.tasks import TaskManager

    from harness.evaluation.model import HarnessVLM

    manager = TaskManager("ERROR", include_path=str(tiny_tasks), include_defaults=False)
    seen = []
    for prefetch in (False, True):
        lm = HarnessVLM(run=str(tiny_checkpoint), batch_size=4, cache=False, prefetch=prefetch)
        evaluator.simple_evaluate(model=lm, tasks=["toy_colour", "toy_colour_mc"], limit=8, task_manager=manager,
                                  bootstrap_iters=0, verbosity="ERROR", process_docs_parallel=1)
        assert lm.computed == 8 + 6 * 4  # 8 answers, 6 docs x 4 choices (lmms-eval's limit leaves the 6)
        seen.append((lm.records, lm.choices))
    assert seen[0] == seen[1]


def test_a_separate_preparation_tokenizes_with_its_own_tokenizer_and_the_same_result(tiny_checkpoint):
    """The worker thread must not share the Rust tokenizer the model thread decodes with."""
    from PIL import Image

    from harness.evaluation.engine import VLMEngine

    engine = VLMEngine(tiny_checkpoint)
    images = [[Image.new("RGB", (16, 16), "red")], [Image.new("RGB", (16, 16), "blue")]]
    questions = ["what colour ?", "what colour is the image ?"]
    shared = engine.prepare(questions, images)
    engine.separate_preparation()
    separate = engine.prepare(questions, images)
    assert engine._preparing.tokenizer._tokenizer is not engine.tokenizer._tokenizer
    assert engine._preparing.tokenizer.padding_side == "left"
    assert all((shared[k] == separate[k]).all() for k in shared)
