"""A composed LLaVA is stock transformers: it saves, reloads with plain from_pretrained, same logits."""

import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, CLIPVisionModel, LlamaForCausalLM, LlavaForConditionalGeneration

from harness.errors import HarnessError
from harness_plugins.vlm.compose import compose_llava, save_llava

from vlmtools import make_tokenizer


def compose(llm_dir, tokenizer_dir, clip_dir, **kw):
    return compose_llava(llm_dir, tokenizer_dir, clip_dir, clip_dir, attn_implementation="eager", **kw)


def inputs(processor):
    image = Image.new("RGB", (40, 24), (200, 30, 30))  # not square: padded with the mean colour
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what colour is the circle ?"}]}]
    prompt = processor.apply_chat_template(conversation)
    return processor(images=image, text=prompt, return_tensors="pt")


def test_saved_llava_reloads_with_stock_transformers_and_gives_the_same_logits(llm_dir, tokenizer_dir, clip_dir, tmp_path):
    model, processor = compose(llm_dir, tokenizer_dir, clip_dir)
    batch = inputs(processor)
    with torch.no_grad():
        before = model(**batch).logits
    out = save_llava(model, processor, tmp_path / "vlm")
    reloaded = LlavaForConditionalGeneration.from_pretrained(out, attn_implementation="eager").eval()
    batch2 = inputs(AutoProcessor.from_pretrained(out))
    assert torch.equal(batch2["input_ids"], batch["input_ids"])
    with torch.no_grad():
        after = reloaded(**batch2).logits
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_projector_is_mlp2x_gelu(llm_dir, tokenizer_dir, clip_dir):
    model, _ = compose(llm_dir, tokenizer_dir, clip_dir)
    projector = model.model.multi_modal_projector
    assert (projector.linear_1.in_features, projector.linear_1.out_features) == (24, 32)
    assert (projector.linear_2.in_features, projector.linear_2.out_features) == (32, 32)
    assert type(projector.act).__name__ == "GELUActivation" and model.config.projector_hidden_act == "gelu"


def test_image_features_come_from_layer_minus_two_without_cls(llm_dir, tokenizer_dir, clip_dir):
    model, processor = compose(llm_dir, tokenizer_dir, clip_dir)
    pixels = inputs(processor)["pixel_values"]
    tower = CLIPVisionModel.from_pretrained(clip_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        expected = model.model.multi_modal_projector(tower(pixels, output_hidden_states=True).hidden_states[-2][:, 1:])
        got = model.model.get_image_features(pixels, vision_feature_layer=-2,
                                             vision_feature_select_strategy="default").pooler_output[0]
    assert got.shape == (16, 32)  # (32 / 8)^2 patches, no CLS
    torch.testing.assert_close(got, expected[0])
    assert model.config.vision_feature_layer == -2 and model.config.vision_feature_select_strategy == "default"


def test_pretrained_weights_are_carried_over(llm_dir, tokenizer_dir, clip_dir):
    model, _ = compose(llm_dir, tokenizer_dir, clip_dir)
    llm = LlamaForCausalLM.from_pretrained(llm_dir)
    tower = CLIPVisionModel.from_pretrained(clip_dir)
    assert torch.equal(model.lm_head.weight, llm.lm_head.weight)
    assert torch.equal(model.model.language_model.layers[1].mlp.up_proj.weight, llm.model.layers[1].mlp.up_proj.weight)
    assert torch.equal(model.model.vision_tower.state_dict()["encoder.layers.2.mlp.fc1.weight"],
                       tower.state_dict()["encoder.layers.2.mlp.fc1.weight"])


def test_config_names_the_image_token_and_one_placeholder_per_patch(llm_dir, tokenizer_dir, clip_dir):
    model, processor = compose(llm_dir, tokenizer_dir, clip_dir)
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert model.config.image_token_index == image_id and model.config.image_seq_length == 16
    assert int((inputs(processor)["input_ids"] == image_id).sum()) == 16


def test_projector_init_is_seeded(llm_dir, tokenizer_dir, clip_dir):
    a, _ = compose(llm_dir, tokenizer_dir, clip_dir, seed=3)
    b, _ = compose(llm_dir, tokenizer_dir, clip_dir, seed=3)
    c, _ = compose(llm_dir, tokenizer_dir, clip_dir, seed=4)
    w = lambda m: m.model.multi_modal_projector.linear_1.weight  # noqa: E731
    assert torch.equal(w(a), w(b)) and not torch.equal(w(a), w(c))


def test_tokenizer_without_image_token_is_a_one_line_error(llm_dir, clip_dir, tmp_path):
    make_tokenizer(with_image=False).save_pretrained(tmp_path / "plain")
    with pytest.raises(HarnessError, match="has no <image> special token"):
        compose(llm_dir, tmp_path / "plain", clip_dir)


def test_save_refuses_a_non_empty_folder(llm_dir, tokenizer_dir, clip_dir, tmp_path):
    model, processor = compose(llm_dir, tokenizer_dir, clip_dir)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(HarnessError, match="not empty"):
        save_llava(model, processor, tmp_path / "busy")
