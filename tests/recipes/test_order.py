"""The deterministic data order: seeded, resumable, and the same micro-batches for any world size."""
from harness_plugins.recipes.llava15.order import StageOrder


def test_order_depends_only_on_seed_and_step():
    a = StageOrder(50, 8, 2, 1, seed=1)
    b = StageOrder(50, 8, 2, 1, seed=1)
    assert [a.micro_batches(s, 0) for s in range(6)] == [b.micro_batches(s, 0) for s in range(6)]
    assert StageOrder(50, 8, 2, 1, seed=2).micro_batches(0, 0) != a.micro_batches(0, 0)


def test_two_ranks_split_the_micro_batches_one_rank_accumulates():
    one = StageOrder(64, 8, 2, 1, seed=0)
    two = StageOrder(64, 8, 2, 2, seed=0)
    for step in range(4):
        assert one.micro_batches(step, 0) == two.micro_batches(step, 0) + two.micro_batches(step, 1)


def test_each_epoch_visits_every_sample_once():
    order = StageOrder(16, 4, 2, 1, seed=0, epochs=2)
    assert order.total_steps == 8
    first = [i for s in range(4) for mb in order.micro_batches(s, 0) for i in mb]
    second = [i for s in range(4, 8) for mb in order.micro_batches(s, 0) for i in mb]
    assert sorted(first) == sorted(second) == list(range(16)) and first != second


def test_max_steps_caps_the_stage():
    assert StageOrder(1000, 8, 8, 1, seed=0, max_steps=5).total_steps == 5
