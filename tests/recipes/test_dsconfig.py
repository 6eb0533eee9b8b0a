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


def test_user_json_with_inconsistent_accumulation_is_refused(tmp_path):
    user = tmp_path / "ds.json"
    user.write_text(json.dumps({"gradient_accumulation_steps": 3}))
    base = dsconfig.generate(stage="align", global_batch=8, micro_batch=4, world_size=1, zero_stage=2,
                             precision="fp32", offload="none")
    with pytest.raises(HarnessError, match="gradient_accumulation_steps=3"):
        dsconfig.merge_user_config(base, user, stage="align", world_size=1)


def test_offload_of_parameters_needs_zero3():
    with pytest.raises(HarnessError, match="ZeRO-3"):
        dsconfig.generate(stage="align", global_batch=8, micro_batch=4, world_size=1, zero_stage=2,
                          precision="fp32", offload="optimizer_and_params")
