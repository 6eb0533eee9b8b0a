"""`harness run launcher=...` hands training to `harness train` with the words that resolve to the
same config; they must give back the same hashes."""
from harness.cli.config_cmds import resolve_cells
from harness.pipeline import command_line_words


def test_command_line_words_resolve_to_the_same_config():
    words = ("task=vqa", "backbone=llama2", "recipe.finetune.lr=1e-5", "eval.tasks=coords,vqa_scene",
             "data.align=null", "recipe.lora.enabled=true", "launcher=torchrun", "num_gpus=2")
    (first,) = resolve_cells(words, multirun=False)
    again = command_line_words(first)
    assert "recipe.finetune.lr=1e-05" in again and "eval.tasks=coords,vqa_scene" in again
    (second,) = resolve_cells(tuple(again), multirun=False)
    assert second.hashes == first.hashes
    assert second.as_dict() == first.as_dict()
