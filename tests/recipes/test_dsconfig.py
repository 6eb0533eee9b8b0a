"""DeepSpeed config generation, batch arithmetic and the user JSON merge."""
import json

import pytest

from harness.errors import HarnessError
from harness_plugins.recipes.llava15 import dsconfig


def test_accumulation_is_global_over_micro_times_world():
    assert dsconfig.accumulation_steps("align", 256, 16, 8) == 2


def test_batch_that_does_not_divide_is_explained_in_one_line():
    with pytest.raises(HarnessError) as err:
        dsconfig.accumulation_steps("finetune", 100, 16, 2)
    text = err.value.one_line()
    assert "\n" not in text and "recipe.finetune.global_batch=100" in text and "16 x 2 = 32" in text and "96 or 128" in text


def test_batch_smaller_than_one_step_suggests_a_single_value():
    with pytest.raises(HarnessError) as err:
        dsconfig.accumulation_steps("align", 10, 16, 1)
    assert "global_batch to 16," in err.value.one_line() and "16 or 16" not in err.value.one_line()


def test_zero3_config_gathers_weights_on_save():
    config = dsconfig.generate(stage="finetune", global_batch=8, micro_batch=4, world_size=1, zero_stage=3,
                               precision="bf16", offload="none")
    assert config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert config["gradient_accumulation_steps"] == 2 and config["bf16"]["enabled"] is True


def test_user_json_is_merged_over_the_generated_config(tmp_path):
    user = tmp_path / "ds.json"
    user.write_text(json.dumps({"gradient_clipping": 0.5, "zero_optimization": {"reduce_bucket_size": 1000}}))
    base = dsconfig.generate(stage="align", global_batch=8, micro_batch=4, world_size=1, zero_stage=2,
                             precision="fp32", offload="none")
    merged = dsconfig.merge_user_config(base, user, stage="align", world_size=1)
    assert merged["gradient_clipping"] == 0.5
    assert merged["zero_optimization"] == base["zero_optimization"] | {"reduce_bucket_size": 1000}


@pytest.mark.parametrize("content, named", [
    ({"gradient_clip": 1.0}, "'gradient_clip'"),
    ({"zero_optimization": {"stage": 2, "overlap_com": True}}, "'zero_optimization.overlap_com'"),
])
def test_user_json_with_unknown_key_is_refused(tmp_path, content, named):
    user = tmp_path / "ds.json"
    user.write_text(json.dumps(content))
    base = dsconfig.generate(stage="align", global_batch=8, micro_batch=4, world_size=1, zero_stage=2,
                             precision="fp32", offload="none")
    with pytest.raises(HarnessError) as err:
        dsconfig.merge_user_config(base, user, stage="align", world_size=1)
    assert named in err.value.one_line() and str(user) in err.value.one_line()


def test_user_accumulation_that_does_not_divide_the_global_batch_is_refused(tmp_path):
    user = tmp_path / "ds.json"
    user.write_text(json.dumps({"gradient_accumulation_steps": 3}))
    base = dsconfig.generate(stage="align", global_batch=8, micro_batch=4, world_size=1, zero_stage=2,
                             precision="fp32", offload="none")
    with pytest.raises(HarnessError) as err:
        dsconfig.merge_user_config(base, user, stage="align", world_size=1)
    text = err.value.one_line()
    assert str(user) in text and "recipe.align.global_batch=8" in text and "gradient_accumulation_steps=3" in text


def _stage(tmp_path, content, world_size=1, global_batch=8, micro_batch=4, precision="fp32", on_gpu=False,
           hidden_size=None, offload="none"):
    user = tmp_path / "ds.json"
    user.write_text(json.dumps(content))
    return dsconfig.stage_config(stage="finetune", global_batch=global_batch, micro_batch=micro_batch,
                                 world_size=world_size, zero_stage=2, precision=precision, offload=offload,
                                 user_path=user, on_gpu=on_gpu, hidden_size=hidden_size)


def _batch(config):
    return config["train_batch_size"], config["train_micro_batch_size_per_gpu"], config["gradient_accumulation_steps"]


@pytest.mark.parametrize("content, world_size, expected", [
    ({"train_batch_size": 16}, 1, (16, 4, 4)),  # global from the file, micro from the recipe
    ({"train_micro_batch_size_per_gpu": 2}, 2, (8, 2, 2)),  # global from the recipe
    ({"gradient_accumulation_steps": 4}, 1, (8, 2, 4)),  # global from the recipe, micro derived
    ({"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 3}, 2, (12, 2, 3)),
    ({"train_batch_size": 24, "gradient_accumulation_steps": 3}, 2, (24, 4, 3)),
    ({"train_batch_size": 12, "train_micro_batch_size_per_gpu": 3}, 1, (12, 3, 4)),
    ({"train_batch_size": 16, "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 4}, 2, (16, 2, 4)),
    ({"train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto"}, 2, (8, 4, 1)),
])
def test_user_batch_values_win_and_the_missing_one_is_derived(tmp_path, content, world_size, expected):
    assert _batch(_stage(tmp_path, content, world_size)) == expected


def test_user_batch_values_win_over_recipe_values_that_do_not_divide(tmp_path):
    assert _batch(_stage(tmp_path, {"train_batch_size": 12}, global_batch=10, micro_batch=4)) == (12, 4, 3)


@pytest.mark.parametrize("content, world_size, named", [
    ({"train_batch_size": 16, "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 2}, 1,
     "train_batch_size=16 but train_micro_batch_size_per_gpu x gradient_accumulation_steps x world size = 2 x 2 x 1 = 4"),
    ({"train_batch_size": 10}, 1, "train_batch_size=10 is not a multiple of train_micro_batch_size_per_gpu=4 x world size 1"),
    ({"train_micro_batch_size_per_gpu": 3}, 1, "recipe.finetune.global_batch=8 is not a multiple of train_micro_batch_size_per_gpu=3"),
    ({"train_batch_size": 0}, 1, "train_batch_size must be a positive integer"),
    ({"gradient_accumulation_steps": "4"}, 1, "gradient_accumulation_steps must be a positive integer"),
])
def test_inconsistent_user_batch_values_are_one_line_naming_the_file(tmp_path, content, world_size, named):
    with pytest.raises(HarnessError) as err:
        _stage(tmp_path, content, world_size)
    text = err.value.one_line()
    assert named in text and str(tmp_path / "ds.json") in text and "\n" not in text


@pytest.mark.parametrize("which", ["ZERO2", "ZERO3"])
def test_llava_zero_json_auto_values_take_the_generated_ones(tmp_path, which):
    import llava_json

    merged = _stage(tmp_path, getattr(llava_json, which), world_size=2, global_batch=16, micro_batch=4, hidden_size=64)
    assert _batch(merged) == (16, 4, 2)
    assert merged["bf16"] == {"enabled": False}
    assert merged["fp16"] == {"enabled": False, "loss_scale": 0, "loss_scale_window": 1000, "initial_scale_power": 16,
                              "hysteresis": 2, "min_loss_scale": 1}
    zero = merged["zero_optimization"]
    assert zero["overlap_comm"] is True and zero["reduce_bucket_size"] == 64 * 64
    if which == "ZERO3":
        assert zero["stage"] == 3 and zero["stage3_gather_16bit_weights_on_model_save"] is True
        assert zero["stage3_prefetch_bucket_size"] == int(0.9 * 64 * 64) and zero["stage3_param_persistence_threshold"] == 640
    assert "auto" not in json.dumps(merged)


def test_llava_zero3_json_follows_bf16_on_a_gpu(tmp_path):
    import llava_json

    merged = _stage(tmp_path, llava_json.ZERO3, precision="bf16", on_gpu=True)
    assert merged["bf16"] == {"enabled": True} and merged["fp16"]["enabled"] is False
    assert "reduce_bucket_size" not in merged["zero_optimization"]  # no hidden size: DeepSpeed's default


@pytest.mark.parametrize("content, named", [
    ({"bf16": {"enabld": True}}, "DeepSpeed rejects bf16.enabld"),
    ({"zero_optimization": {"stage": 7}}, "DeepSpeed rejects zero_optimization.stage"),
    ({"fp16": {"loss_scal": 0}}, "DeepSpeed rejects fp16.loss_scal"),
    ({"zero_optimization": {"offload_optimizer": {"device": "disk"}}}, "zero_optimization.offload_optimizer.device"),
])
def test_merged_config_passes_deepspeeds_own_validation(tmp_path, content, named):
    with pytest.raises(HarnessError) as err:
        _stage(tmp_path, content)
    text = err.value.one_line()
    assert named in text and str(tmp_path / "ds.json") in text and "\n" not in text


@pytest.mark.parametrize("content, named", [
    ({"optimizer": {"type": "AdamW", "params": {"lrr": 1.0}}}, "unknown optimizer param 'lrr' (did you mean 'lr'?)"),
    ({"optimizer": {"type": "AdamW", "params": {"lr": 1.0}}}, "optimizer.params.lr=1.0 would override the recipe"),
    ({"optimizer": {"type": "SGD", "params": {}}}, "optimizer type 'SGD' is not supported"),
    ({"optimizer": {"params": {}}}, "optimizer type None is not supported"),
    ({"optimizer": {"type": "AdamW", "params": [1]}}, "optimizer params (must be an object)"),
    ({"scheduler": {"type": "WarmupLR", "params": {"warmup_num_steps": 10}}}, "scheduler section would replace"),
    ({"fp16": {"enabled": True}}, "fp16.enabled=true needs a GPU"),
    ({"bf16": {"enabled": True}}, "bf16.enabled=true needs a GPU"),
])
def test_unsupported_user_sections_are_one_line(tmp_path, content, named):
    with pytest.raises(HarnessError) as err:
        _stage(tmp_path, content)
    assert named in err.value.one_line() and "\n" not in err.value.one_line()


def test_user_half_precision_must_agree_with_the_recipe_on_a_gpu(tmp_path):
    with pytest.raises(HarnessError, match="fp16.enabled=true disagrees with recipe.precision"):
        _stage(tmp_path, {"fp16": {"enabled": True}}, precision="bf16", on_gpu=True)
    assert _stage(tmp_path, {"fp16": {"enabled": True}}, precision="fp16", on_gpu=True)["fp16"]["enabled"] is True


def test_user_optimizer_is_honoured_with_the_recipe_learning_rate(tmp_path):
    merged = _stage(tmp_path, {"optimizer": {"type": "AdamW", "params": {"lr": "auto", "betas": [0.9, 0.95],
                                                                         "eps": "auto", "weight_decay": "auto"}},
                               "scheduler": {"type": "WarmupLR", "params": {"warmup_max_lr": "auto"}}})
    assert merged["optimizer"] == {"type": "AdamW", "params": {"lr": 0.0, "weight_decay": 0.0, "betas": [0.9, 0.95],
                                                                "torch_adam": True}}
    assert "scheduler" not in merged  # all "auto": the recipe's schedule
    offloaded = _stage(tmp_path, {"optimizer": {"type": "Adam"}}, offload="optimizer")
    assert offloaded["optimizer"] == {"type": "Adam", "params": {"lr": 0.0, "weight_decay": 0.0}}  # DeepSpeed's CPU Adam


def test_offload_of_parameters_needs_zero3():
    with pytest.raises(HarnessError, match="ZeRO-3"):
        dsconfig.generate(stage="align", global_batch=8, micro_batch=4, world_size=1, zero_stage=2,
                          precision="fp32", offload="optimizer_and_params")
