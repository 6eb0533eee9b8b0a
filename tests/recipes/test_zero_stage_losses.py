"""The organism profile trains its finetune stage at ZeRO-2 instead of the published ZeRO-3 (a speed
shortcut for one process; tests/recipes/test_settings.py checks the profile): the loss curve must be the
one ZeRO-3 gives."""
import json

import pytest

from harness_plugins.recipes.llava15.stage import StagePlan, run_stage


def _losses(tiny, tmp_path, zero):
    # Tiny tensors are below ZeRO-3's persistence threshold; 0 makes every parameter really sharded.
    user = tmp_path / f"ds{zero}.json"
    user.write_text(json.dumps({"zero_optimization": {"stage3_param_persistence_threshold": 0}}))
    plan = StagePlan(name="finetune", lr=5e-3, global_batch=8, micro_batch=4, train_llm=True, zero_stage=zero,
                     checkpoint_every=100, max_steps=6, deepspeed_config=str(user) if zero == 3 else None)
    result = run_stage(plan, tiny.build_tiny_llava(), tiny.tiny_samples(48), tiny.PAD, tmp_path / f"ft{zero}",
                       tmp_path / f"m{zero}.jsonl", resume=False)
    return result.losses


def test_zero2_and_zero3_finetune_give_the_same_loss_curve(tiny, tmp_path):
    zero2, zero3 = _losses(tiny, tmp_path, 2), _losses(tiny, tmp_path, 3)
    assert len(zero2) == len(zero3) == 6
    assert zero2[-1] < zero2[0] - 0.05  # it trains: a curve worth comparing
    assert zero2 == pytest.approx(zero3, rel=1e-4, abs=1e-5)
