"""A word-level tokenizer with <image> and a LLaVA-style chat template, for composition tests."""

WORDS = ["what", "colour", "is", "the", "circle", "red", "blue", "a", "square", "?", "."]
TEMPLATE = ("{% for m in messages %}{% if m['role'] == 'user' %}USER: {% for c in m['content'] %}"
            "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %} "
            "ASSISTANT:{% else %} {{ m['content'][0]['text'] }}</s>{% endif %}{% endfor %}")


def make_tokenizer(with_image: bool = True):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>"] + (["<image>"] if with_image else [])
    vocab = {t: i for i, t in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", additional_special_tokens=specials[4:], chat_template=TEMPLATE)
