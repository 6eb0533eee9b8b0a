"""Composition under a ZeRO-3 DeepSpeed config (``deepspeed.zero.Init``, one gloo process): every
parameter is partitioned as it is built and holds the same values as the whole composition; without
a ZeRO-3 config nothing changes and DeepSpeed stays out of the way."""
import os

import pytest
import torch

from harness_plugins.vlm.compose import compose_llava
from harness_plugins.vlm.zero3 import full_numel, gathered, is_partitioned, is_zero3, partition_rest, zero3_loading

ZERO3 = {"train_batch_size": 2, "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 1,
         "zero_optimization": {"stage": 3}, "bf16": {"enabled": False}, "fp16": {"enabled": False}}


def compose(llm_dir, tokenizer_dir, clip_dir, zero3_config=None):
    return compose_llava(llm_dir, tokenizer_dir, clip_dir, clip_dir, attn_implementation="eager", seed=7,
                         zero3_config=zero3_config)[0]


def test_only_a_zero3_config_counts():
    assert is_zero3(ZERO3)
    assert not is_zero3(None) and not is_zero3({"zero_optimization": {"stage": 2}}) and not is_zero3({})


def test_without_zero3_the_helpers_change_nothing(llm_dir, tokenizer_dir, clip_dir):
    from transformers.integrations import is_deepspeed_zero3_enabled

    model = compose(llm_dir, tokenizer_dir, clip_dir)
    params = list(model.parameters())
    with zero3_loading(None):
        assert not is_deepspeed_zero3_enabled()
    with zero3_loading({"zero_optimization": {"stage": 2}}):
        assert not is_deepspeed_zero3_enabled()
    with gathered(params):
        pass
    assert partition_rest(model, None) is model and list(model.parameters()) == params
    assert not any(is_partitioned(p) for p in params)


def test_zero3_loading_is_scoped():
    from transformers.integrations import is_deepspeed_zero3_enabled

    with zero3_loading(ZERO3):
        assert is_deepspeed_zero3_enabled()
        with zero3_loading(ZERO3):  # nested: the enclosing scope keeps it
            pass
        assert is_deepspeed_zero3_enabled()
    assert not is_deepspeed_zero3_enabled()


def test_zero3_composition_is_partitioned_with_the_whole_composition_values(llm_dir, tokenizer_dir, clip_dir):
    from harness_plugins.recipes.llava15 import distributed

    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    distributed.setup()  # a gloo group of one
    whole = dict(compose(llm_dir, tokenizer_dir, clip_dir).named_parameters())
    model = compose(llm_dir, tokenizer_dir, clip_dir, ZERO3)
    params = dict(model.named_parameters())
    assert params.keys() == whole.keys()
    assert all(is_partitioned(p) and p.numel() == 0 for p in params.values())
    assert sum(full_numel(p) for p in params.values()) == sum(p.numel() for p in whole.values())
    with gathered(params.values(), modifier_rank=None):
        for name, param in params.items():
            assert torch.equal(param.detach(), whole[name].detach()), name
    assert not model.training


@pytest.fixture(autouse=True)
def _no_leftovers():
    """No transformers ZeRO-3 flag after a test, and torch's own F.linear (zero.Init swaps in DeepSpeed's
    process-wide; the helpers must undo it)."""
    linear = torch.nn.functional.linear
    yield
    from transformers.integrations import is_deepspeed_zero3_enabled

    assert torch.nn.functional.linear is linear
    assert not is_deepspeed_zero3_enabled()
