"""Each generation's export names its chat format's turn end where stock tools look for EOS (the
tokenizer, generation_config.json, config.json), while harness_vlm's stops and the training's labels
stay as they were; its README's transformers example runs as written and gives harness_vlm's answer.
On the shipped organisms, composed as the recipe composes them (no training: tests/e2e/test_stock_tools.py
checks trained exports)."""
import json

import pytest
from transformers import AutoTokenizer, GenerationConfig

from readme_example import run_readme_example

from harness.kinds.backbone import IGNORE_INDEX
from harness_plugins.backbones.llama_backbone import Llama1, Llama2, Llama3
from harness_plugins.recipes.llava15.export import export_checkpoint
from harness_plugins.recipes.llava15.model_card import model_card
from harness_plugins.vision.clip_encoder import ClipEncoder
from harness_plugins.vlm.build import compose_from_plugins

# The token each generation's chat format writes at the end of an assistant turn.
TURN_END = {"llama1": (Llama1, "</s>"), "llama2": (Llama2, "</s>"), "llama3": (Llama3, "<|eot_id|>")}
CONVERSATION = [{"from": "human", "value": "<image>\nWhat colour is the circle?"}, {"from": "gpt", "value": "red"},
                {"from": "human", "value": "How many objects are there?"}, {"from": "gpt", "value": "2"}]


@pytest.fixture(scope="module", params=sorted(TURN_END))
def exported(request, tmp_path_factory):
    """(generation, backbone, training processor, export with the turn end declared, export without)."""
    backbone = TURN_END[request.param][0]()
    model, processor = compose_from_plugins(backbone, ClipEncoder(), attn_implementation="sdpa")
    folder = tmp_path_factory.mktemp(request.param)
    plain = export_checkpoint(model, folder / "plain", processor=processor)
    stops = backbone.stop_token_ids(processor.tokenizer)
    readme = model_card(backbone=request.param, vision="clip", data="none", recipe="none", training_hash="-",
                        stages=[], path=folder / "declared", turn_end=processor.tokenizer.convert_ids_to_tokens(stops[0]))
    declared = export_checkpoint(model, folder / "declared", processor=processor, readme=readme, stop_token_ids=stops)
    return request.param, backbone, processor, declared, plain


def test_the_exported_tokenizer_generation_config_and_config_name_the_turn_end_first(exported):
    generation, _, _, out, _ = exported
    tokenizer = AutoTokenizer.from_pretrained(out)
    turn_end = TURN_END[generation][1]
    assert tokenizer.eos_token == turn_end
    turn_end_id = tokenizer.convert_tokens_to_ids(turn_end)
    stops = GenerationConfig.from_pretrained(out).eos_token_id
    assert stops[0] == turn_end_id and tokenizer.pad_token_id not in stops
    assert json.loads((out / "config.json").read_text())["text_config"]["eos_token_id"] == stops


def test_the_backbones_own_eos_stays_a_stop_token(exported):
    _, backbone, _, out, _ = exported
    original = AutoTokenizer.from_pretrained(backbone.weights_dir()).eos_token  # <|end_of_text|> for LLaMA-3
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.convert_tokens_to_ids(original) in GenerationConfig.from_pretrained(out).eos_token_id


def test_the_declared_eos_is_the_token_training_supervises_at_each_turn_end(exported):
    _, backbone, processor, out, _ = exported
    labels = backbone.render(CONVERSATION, processor.tokenizer, num_image_tokens=1).labels + [IGNORE_INDEX]
    turn_ends = [t for t, after in zip(labels, labels[1:]) if t != IGNORE_INDEX and after == IGNORE_INDEX]
    assert turn_ends == [AutoTokenizer.from_pretrained(out).eos_token_id] * 2  # the last label of each answer


def test_the_training_tokenizer_is_left_alone(exported):
    _, backbone, processor, _, _ = exported
    assert processor.tokenizer.eos_token == AutoTokenizer.from_pretrained(backbone.weights_dir()).eos_token


def test_harness_vlm_stops_at_the_same_tokens_as_before(exported):
    from harness.evaluation.engine import VLMEngine

    _, _, _, declared, plain = exported
    assert VLMEngine(declared).stop_ids == VLMEngine(plain).stop_ids


def test_the_readme_example_runs_as_written_and_gives_harness_vlms_answer(exported):
    from harness.evaluation.engine import VLMEngine

    _, _, _, out, _ = exported
    example = run_readme_example(out)
    ours = VLMEngine(out, dtype="float32").generate([example["question"]], [[example["image"]]], max_new_tokens=16)
    assert example["answer"] == ours[0].text
