"""Prepare the next batch on a worker thread while the current one runs on the model.

Fetching a batch's documents, decoding their images, rendering the prompts and tokenizing them is
Python and image work; the model's forward passes run in torch kernels that release the GIL. Doing
the two at once is what a DataLoader worker does in training, so that on a GPU the preparation can hide
behind the device (``harness_vlm`` model_args ``prefetch=true``; ``benchmarks/eval_gpu.py`` measures
it). On a 2-core CPU the thread competes with the kernels for the cores: batch 32 of the trained
organism measured ~6% slower, so it is off by default. Batches come out in order, and an error raised
while preparing a batch is raised where that batch is consumed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Prepared = TypeVar("Prepared")


def prefetched(items: Sequence[Item], prepare: Callable[[Item], Prepared],
               background: bool = True) -> Iterator[tuple[Item, Prepared]]:
    """``(item, prepare(item))`` in order, with ``prepare`` of the next item running meanwhile.

    At most one prepared item waits ahead, so memory holds two batches at a time. Leaving the loop
    early (an error, ``break``, Ctrl-C) cancels what has not started and waits for the one in flight.
    ``background=False`` prepares each item in turn on the calling thread (the baseline to compare).
    """
    if not background:
        yield from ((item, prepare(item)) for item in items)
        return
    if not items:
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-prefetch")
    try:
        pending: Future = pool.submit(prepare, items[0])
        for index, item in enumerate(items):
            prepared = pending.result()
            if index + 1 < len(items):
                pending = pool.submit(prepare, items[index + 1])
            yield item, prepared
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
