"""Composition through the plugin kinds: a backbone and a vision encoder hand over their parts."""
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM, LlavaForConditionalGeneration

from harness.kinds.backbone import Backbone
from harness_plugins.vision.clip_encoder import ClipEncoder
from harness_plugins.vlm.build import compose_from_plugins
from harness_plugins.vlm.compose import save_llava


class FolderBackbone(Backbone):
    """A backbone whose weights and tokenizer are fixed folders (the real plugins resolve variants)."""

    card_name = "llama2"

    def __init__(self, llm_dir: Path, tokenizer_dir: Path):
        self.llm_dir, self.tokenizer_dir = llm_dir, tokenizer_dir

    def weights_dir(self, variant=None, path=None):
        return self.llm_dir

    def load_tokenizer(self, variant=None, path=None):
        return AutoTokenizer.from_pretrained(self.tokenizer_dir)

    def load_model(self, variant=None, path=None, dtype="float32", attn_implementation="sdpa", tokenizer=None):
        return LlamaForCausalLM.from_pretrained(self.llm_dir, attn_implementation=attn_implementation)

    def render(self, *a, **k):
        raise NotImplementedError

    def prompt(self, *a, **k):
        raise NotImplementedError

    def stop_token_ids(self, tokenizer):
        return [tokenizer.eos_token_id]


def test_plugins_compose_into_a_llava_that_round_trips(llm_dir, tokenizer_dir, clip_dir, tmp_path):
    model, processor = compose_from_plugins(FolderBackbone(llm_dir, tokenizer_dir), ClipEncoder(),
                                            vision_path=clip_dir, attn_implementation="sdpa")
    out = save_llava(model, processor, tmp_path / "vlm")
    reloaded = LlavaForConditionalGeneration.from_pretrained(out)
    assert reloaded.config.text_config.hidden_size == 32 and reloaded.config.vision_config.hidden_size == 24
    assert torch.equal(reloaded.model.vision_tower.state_dict()["post_layernorm.weight"],
                       model.model.vision_tower.state_dict()["post_layernorm.weight"])
    assert processor.image_processor.do_pad


def test_the_vision_plugins_feature_layer_reaches_the_llava_config(llm_dir, tokenizer_dir, clip_dir):
    class ThirdToLast(ClipEncoder):
        @property
        def feature_layer(self) -> int:
            return -3

    model, _ = compose_from_plugins(FolderBackbone(llm_dir, tokenizer_dir), ThirdToLast(), vision_path=clip_dir)
    assert model.config.vision_feature_layer == -3
