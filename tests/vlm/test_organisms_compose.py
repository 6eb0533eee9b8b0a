"""End to end on the shipped organisms: LLaMA-2 organism + CLIP organism -> stock LLaVA, round trip."""
import pytest
import torch
from transformers import AutoProcessor, LlavaForConditionalGeneration

from harness_plugins.scene.world import generate_scene, render
from harness_plugins.vision.clip_encoder import ClipEncoder
from harness_plugins.vlm.build import compose_from_plugins
from harness_plugins.vlm.compose import save_llava


@pytest.mark.slow
def test_llama2_and_clip_organisms_compose_into_a_llava_that_round_trips(tmp_path):
    from harness_plugins.backbones.llama_backbone import Llama2

    backbone = Llama2()
    if not (backbone.weights_dir() / "config.json").is_file():
        pytest.fail("the llama2 organism is not built (run `harness organisms build --only llama2`)")
    model, processor = compose_from_plugins(backbone, ClipEncoder(), attn_implementation="sdpa")
    assert model.config.image_seq_length == 64 and model.config.vision_config.hidden_size == 64
    tokenizer = processor.tokenizer
    prompt = backbone.prompt([{"from": "human", "value": "<image>\nwhat colour is the circle?"}], tokenizer,
                             num_image_tokens=1)
    text = tokenizer.decode(prompt, skip_special_tokens=False)
    batch = processor(images=render(generate_scene(3)), text=text, return_tensors="pt", add_special_tokens=False)
    assert int((batch["input_ids"] == model.config.image_token_index).sum()) == 64
    with torch.no_grad():
        before = model(**batch).logits
    out = save_llava(model, processor, tmp_path / "vlm")
    reloaded = LlavaForConditionalGeneration.from_pretrained(out).eval()
    batch2 = AutoProcessor.from_pretrained(out)(images=render(generate_scene(3)), text=text, return_tensors="pt",
                                                add_special_tokens=False)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch2).logits, before, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_build_vlm_from_a_run_config_records_the_attention_choice():
    from types import SimpleNamespace

    from harness_plugins.vlm.build import build_vlm

    config = SimpleNamespace(backbone=SimpleNamespace(name="llama1", variant=None, path=None),
                             vision=SimpleNamespace(name="clip", variant=None, path=None),
                             attention="auto", seed=0)
    built = build_vlm(config)
    assert built.attention == "sdpa" and "xformers" in built.attention_reason  # why xformers was skipped
    assert built.model.config.text_config._attn_implementation == "sdpa"
    assert built.model.config.vision_config.image_size == 64


def test_a_saved_llama3_composition_stops_generating_at_the_turn_end(tmp_path):
    """Stock generate() on the saved checkpoint ends at <|eot_id|> (the chat format's turn end), not
    only at <|end_of_text|>: the backbone's stop tokens travel in generation_config.json."""
    from transformers import GenerationConfig

    from harness_plugins.backbones.llama_backbone import Llama3

    backbone = Llama3()
    model, processor = compose_from_plugins(backbone, ClipEncoder(), attn_implementation="sdpa")
    out = save_llava(model, processor, tmp_path / "vlm")
    saved = GenerationConfig.from_pretrained(out).eos_token_id
    tokenizer = processor.tokenizer
    assert tokenizer.convert_tokens_to_ids("<|eot_id|>") in saved and tokenizer.eos_token_id in saved
    assert tokenizer.pad_token_id not in saved
