"""Tiny random parts for composition tests: a LLaMA, a tokenizer with <image>, a CLIP tower."""
from pathlib import Path

import pytest
import torch

WORDS = ["what", "colour", "is", "the", "circle", "red", "blue", "a", "square", "?", "."]
TEMPLATE = ("{% for m in messages %}{% if m['role'] == 'user' %}USER: {% for c in m['content'] %}"
            "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %} "
            "ASSISTANT:{% else %} {{ m['content'][0]['text'] }}</s>{% endif %}{% endfor %}")


@pytest.fixture(autouse=True)
def few_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def make_tokenizer(with_image: bool = True):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>"] + (["<image>"] if with_image else [])
    vocab = {t: i for i, t in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", additional_special_tokens=specials[4:], chat_template=TEMPLATE)


@pytest.fixture
def tokenizer_dir(tmp_path: Path) -> Path:
    out = tmp_path / "tokenizer"
    make_tokenizer().save_pretrained(out)
    return out


@pytest.fixture
def llm_dir(tmp_path: Path) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=1, eos_token_id=2)
    out = tmp_path / "llm"
    LlamaForCausalLM(config).save_pretrained(out)
    return out


@pytest.fixture
def clip_dir(tmp_path: Path) -> Path:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from harness_plugins.vision.images import image_processor

    torch.manual_seed(1)
    config = CLIPVisionConfig(hidden_size=24, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
                              image_size=32, patch_size=8)
    out = tmp_path / "clip"
    CLIPVisionModel(config).save_pretrained(out)
    image_processor(32).save_pretrained(out)
    return out
