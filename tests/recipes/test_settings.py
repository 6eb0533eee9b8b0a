"""The recipe's typed settings through the config machinery: profiles, overrides, wrong types."""
import pytest

from harness.cli.config_cmds import resolve_cells
from harness.errors import HarnessError
from harness_plugins.recipes.llava15.train import stage_plans
from harness_plugins.recipes.llava15.validate import validate


def test_organism_profile_is_picked_for_tiny_backbones():
    (resolved,) = resolve_cells(("backbone=llama3",), multirun=False)
    recipe = resolved.config.recipe
    assert recipe.profile == "organism" and recipe.align.global_batch == 32 and recipe.max_length == 384
    assert recipe.finetune.zero_stage == 2  # the published recipe's ZeRO-3 costs 2x per step in one process
    # the finetune budget chosen on the validation split (issue #12): five packed epochs at a constant 1e-3
    assert (recipe.finetune.lr, recipe.finetune.epochs, recipe.finetune.pack, recipe.schedule) == (1e-3, 5, 8, "constant")


def test_full_profile_is_the_published_recipe():
    (resolved,) = resolve_cells(("recipe.profile=full",), multirun=False)
    align, finetune = stage_plans(resolved.config.recipe, seed=0, on_gpu=True)
    assert (align.lr, align.global_batch, align.zero_stage, align.train_llm) == (1e-3, 256, 2, False)
    assert (finetune.lr, finetune.global_batch, finetune.zero_stage, finetune.train_llm) == (2e-5, 128, 3, True)
    assert align.precision == finetune.precision == "bf16" and finetune.warmup_ratio == 0.03


def test_overrides_reach_the_stage_plans():
    (resolved,) = resolve_cells(("recipe.finetune.lr=1e-5", "recipe.zero_stage=3", "recipe.lora.enabled=true",
                                 "recipe.lora.r=8"), multirun=False)
    align, finetune = stage_plans(resolved.config.recipe, seed=0, on_gpu=False)
    assert finetune.lr == 1e-5 and align.zero_stage == finetune.zero_stage == 3
    assert finetune.lora["r"] == 8 and align.lora is None and align.precision == "fp32"


def test_learning_rate_of_the_wrong_type_is_one_line():
    with pytest.raises(HarnessError) as err:
        resolve_cells(("recipe.finetune.lr=fast",), multirun=False)
    assert "recipe.finetune.lr" in err.value.one_line() and "\n" not in err.value.one_line()


def test_half_precision_on_the_cpu_is_refused():
    (resolved,) = resolve_cells(("recipe.precision=bf16",), multirun=False)
    with pytest.raises(HarnessError, match="needs a GPU"):
        stage_plans(resolved.config.recipe, seed=0, on_gpu=False)


def test_unknown_schedule_is_refused_before_training():
    (resolved,) = resolve_cells(("recipe.schedule=cosin",), multirun=False)
    with pytest.raises(HarnessError, match="recipe.schedule='cosin' is invalid"):
        validate(resolved.config, 1)


def test_unknown_loss_average_is_refused_before_training():
    (resolved,) = resolve_cells(("recipe.loss_average=tokens",), multirun=False)
    with pytest.raises(HarnessError, match="recipe.loss_average='tokens' is invalid: it must be token .* or exchange"):
        validate(resolved.config, 1)


def test_an_edited_deepspeed_json_is_another_training(tmp_path):
    """Resume and checkpoint reuse go by the training hash, which covers the JSON's contents."""
    ds = tmp_path / "ds.json"
    ds.write_text('{"gradient_clipping": 1.0}')
    (first,) = resolve_cells((f"recipe.deepspeed_config={ds}",), multirun=False)
    ds.write_text('{"gradient_clipping": 0.01}')
    (edited,) = resolve_cells((f"recipe.deepspeed_config={ds}",), multirun=False)
    assert first.hashes["training"] != edited.hashes["training"]


# Settings added after checkpoints existed, each at the behaviour before it: none may change an existing hash.
ADDED_LATER = ("recipe.loss_average", "recipe.init_from", "recipe.perceive_epochs", "recipe.perceive_lr",
               "recipe.perceive_max_steps", "data.perceive", "data.perceive_types")


def test_settings_added_later_leave_every_hash_as_before_they_existed():
    from harness.config.resolve import config_hashes

    (default,) = resolve_cells(("backbone=llama3",), multirun=False)
    before = default.as_dict()
    for key in ADDED_LATER:  # the tree as it was hashed before these settings existed
        section, leaf = key.split(".")
        del before[section][leaf]
    assert default.hashes == config_hashes(before)
