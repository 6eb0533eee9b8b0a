"""The chat templates accept message content as a string or as a list of image/text parts (what
processors and lmms-eval's chat models send), and render both the same way."""
import pytest
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from harness_plugins.backbones.chat_formats import FORMATS


@pytest.fixture(scope="module")
def tokenizer():
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>")),
                                   bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def _parts(text):
    return [{"type": "text", "text": text}]


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.chat_template])
def test_list_content_renders_as_string_content(tokenizer, name):
    template = FORMATS[name].chat_template
    as_text = [{"role": "system", "content": "Be brief."},
               {"role": "user", "content": "<image>\nWhat colour is the circle?"},
               {"role": "assistant", "content": "red"}, {"role": "user", "content": "And its shape?"}]
    as_parts = [{"role": "system", "content": _parts("Be brief.")},
                {"role": "user", "content": [{"type": "image"}, *_parts("What colour is the circle?")]},
                {"role": "assistant", "content": _parts("red")}, {"role": "user", "content": _parts("And its shape?")}]
    for prompt in (True, False):
        a = tokenizer.apply_chat_template(as_text, chat_template=template, tokenize=False, add_generation_prompt=prompt)
        b = tokenizer.apply_chat_template(as_parts, chat_template=template, tokenize=False, add_generation_prompt=prompt)
        assert a == b and b.count("<image>") == 1
