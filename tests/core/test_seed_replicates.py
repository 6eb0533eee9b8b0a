"""`seed=` is the training's randomness only: it changes the projector's initialisation and the data
order, and the training hash, while runs that differ only in it are replicates of one cell."""
from harness.analysis.replicates import cell_key, controlled_key
from harness.config.overrides import parse_overrides
from harness.config.resolve import resolve
from harness.plugin_manager import get_plugins
from harness.store import RunRecord


def _resolved(*words):
    return resolve(parse_overrides(list(words)), get_plugins())


def _run(resolved, run_id):
    cfg = resolved.config
    return RunRecord(run_id, cfg.task.name, cfg.backbone.name, cfg.backbone.variant, "clip", "llava15",
                     resolved.as_dict(), resolved.hashes["run"], resolved.hashes["training"], resolved.hashes["controlled"])


def test_runs_differing_only_in_the_seed_are_replicates_of_one_cell():
    zero, one = _resolved("task=vqa", "backbone=llama3", "seed=0"), _resolved("task=vqa", "backbone=llama3", "seed=1")
    assert zero.hashes["training"] != one.hashes["training"]  # a seed is another training
    assert zero.hashes["controlled"] != one.hashes["controlled"]
    assert cell_key(_run(zero, "a")) == cell_key(_run(one, "b"))
    other_lr = _resolved("task=vqa", "backbone=llama3", "seed=1", "recipe.finetune.lr=1e-4")
    assert cell_key(_run(other_lr, "c")) != cell_key(_run(zero, "a"))
    llama1 = _resolved("task=vqa", "backbone=llama1", "seed=2")
    assert controlled_key(_run(llama1, "d")) == controlled_key(_run(zero, "a"))  # controlled, seed aside


def test_the_seed_sets_the_projector_initialisation_and_the_data_order():
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    from harness_plugins.recipes.llava15.order import epoch_permutation
    from harness_plugins.vlm.compose import seeded_projector

    config = LlavaConfig(vision_config=CLIPVisionConfig(hidden_size=16, num_attention_heads=4),
                         text_config=LlamaConfig(hidden_size=8, num_attention_heads=2))
    weights = [seeded_projector(config, seed).linear_1.weight for seed in (0, 0, 1)]
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])
    assert epoch_permutation(50, 0, 0) == epoch_permutation(50, 0, 0) != epoch_permutation(50, 1, 0)
