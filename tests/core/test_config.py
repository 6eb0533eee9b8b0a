"""Layered, typed, strict configuration resolution."""
import pytest

from harness.config import expand_multirun, parse_overrides, resolve
from harness.errors import HarnessError


def resolved(plugins, *args):
    return resolve(parse_overrides(list(args)), plugins)


def test_shorthand_and_alias_resolve_to_canonical_names(fake_plugins):
    r = resolved(fake_plugins, "task=vqa", "backbone=llama2")
    assert r.config.task.name == "vqa_scene"
    assert r.config.backbone.name == "llama2"
    assert r.sources["task.name"] == "command line"


def test_layers_record_where_each_value_came_from(fake_plugins):
    r = resolved(fake_plugins, "recipe.finetune.lr=1e-5")
    assert r.sources["backbone.variant"] == "model card" and r.config.backbone.variant == "tiny"
    assert r.sources["eval.max_new_tokens"] == "task" and r.config.eval.max_new_tokens == 8
    assert r.sources["recipe.align.global_batch"] == "recipe" and r.config.recipe.align.global_batch == 8
    assert r.sources["recipe.finetune.lr"] == "command line" and r.config.recipe.finetune.lr == 1e-5
    assert r.sources["seed"] == "default"


def test_organism_profile_is_chosen_for_tiny_and_full_for_real_variants(fake_plugins):
    assert resolved(fake_plugins).config.recipe.profile == "organism"
    real = resolved(fake_plugins, "backbone.variant=8b")
    assert real.config.recipe.profile == "full" and real.config.recipe.align.global_batch == 256


def test_weights_named_by_path_are_the_custom_variant_with_the_full_profile(fake_plugins):
    """backbone.path points at real weights: never labelled with (or trained like) the organism."""
    r = resolved(fake_plugins, "backbone.path=/models/Meta-Llama-3-8B")
    assert r.config.backbone.variant == "custom" and r.sources["backbone.variant"] == "backbone.path"
    assert r.config.recipe.profile == "full" and r.config.recipe.finetune.lr == 2e-5
    assert r.config.vision.variant == "tiny"
    named = resolved(fake_plugins, "backbone.path=/models/Meta-Llama-3-8B", "backbone.variant=8b")
    assert named.config.backbone.variant == "8b"
    with pytest.raises(HarnessError, match="backbone.variant=custom means weights from backbone.path"):
        resolved(fake_plugins, "backbone.variant=custom")


def test_a_file_declared_hashed_by_contents_changes_the_training_hash_when_edited(fake_plugins, tmp_path):
    """Resume and checkpoint reuse go by the training hash: an edited DeepSpeed JSON is another training."""
    ds = tmp_path / "ds.json"
    ds.write_text('{"gradient_clipping": 1.0}')
    first = resolved(fake_plugins, f"recipe.extra_json={ds}")
    assert resolved(fake_plugins, f"recipe.extra_json={ds}").hashes == first.hashes
    ds.write_text('{"gradient_clipping": 0.5}')
    edited = resolved(fake_plugins, f"recipe.extra_json={ds}")
    assert edited.hashes["training"] != first.hashes["training"]
    assert edited.config.recipe.extra_json == str(ds)  # the config itself still names the file
    with pytest.raises(HarnessError, match=r"recipe.extra_json=.*absent.json cannot be read"):
        resolved(fake_plugins, f"recipe.extra_json={tmp_path / 'absent.json'}")


def test_values_are_typed_by_the_schema_not_by_yaml(fake_plugins):
    r = resolved(fake_plugins, "recipe.tag=1.10", "seed=3", "eval.save_hidden_states=true")
    assert r.config.recipe.tag == "1.10"
    assert r.config.seed == 3
    assert r.config.eval.save_hidden_states is True


def test_list_keys_take_comma_lists(fake_plugins):
    r = resolved(fake_plugins, "eval.tasks=vqa,scene_description")
    assert r.config.eval.tasks == ["vqa", "scene_description"]
    assert resolved(fake_plugins, "eval.tasks=[vqa,scene_description]").config.eval.tasks == ["vqa", "scene_description"]
    assert resolved(fake_plugins, "eval.tasks=[]").config.eval.tasks == []


@pytest.mark.parametrize("arg, fragment", [
    ("backbon=llama3", "did you mean"),
    ("recipe.finetune.lr=abc", "is not a float"),
    ("backbone=llama4", "unknown backbone 'llama4' (did you mean 'llama3'"),
    ("task=vqq", "unknown task"),
    ("eval.limit=0", "eval.limit must be a positive integer"),
    ("backbone.variant=9b", "no variant '9b'"),
    ("data.on_bad_row=maybe", "one of error, skip"),
    ("recipe.finetune=3", "is a section"),
    ("recipe.profile=huge", "no profile 'huge'"),
    ("novalue", "expected KEY=VALUE"),
])
def test_bad_overrides_are_one_line_errors(fake_plugins, arg, fragment):
    with pytest.raises(HarnessError) as info:
        resolved(fake_plugins, arg)
    assert fragment in info.value.one_line()
    assert "\n" not in info.value.one_line()


def test_hashes_split_training_and_controlled_parts(fake_plugins):
    base = resolved(fake_plugins).hashes
    other_backbone = resolved(fake_plugins, "backbone=llama2").hashes
    other_eval = resolved(fake_plugins, "eval.limit=10").hashes
    resumed = resolved(fake_plugins, "resume=true").hashes
    assert other_backbone["controlled"] == base["controlled"]
    assert other_backbone["training"] != base["training"] and other_backbone["run"] != base["run"]
    assert other_eval["training"] == base["training"]
    assert other_eval["controlled"] != base["controlled"]
    assert resumed == base


def test_multirun_expands_the_cartesian_product():
    cells = expand_multirun(parse_overrides(["backbone=llama1,llama2,llama3", "seed=0,1", "task=vqa"]))
    assert len(cells) == 6
    assert {str(c[0]) for c in cells} == {"backbone.name=llama1", "backbone.name=llama2", "backbone.name=llama3"}


def test_multirun_leaves_list_keys_alone():
    cells = expand_multirun(parse_overrides(["eval.tasks=a,b", "seed=0,1"]), list_keys={"eval.tasks"})
    assert len(cells) == 2 and all(c[0].value == "a,b" for c in cells)
