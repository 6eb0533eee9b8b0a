"""Random-init LLaVA checkpoints and a toy lmms-eval task, for tests and benchmarks.

The checkpoint is a stock ``LlavaForConditionalGeneration`` saved with a ``LlavaProcessor``
(word-level tokenizer, CLIP image processor, a LLaMA-2-like chat template), i.e. the same folder
layout the training recipe exports; sizes are parameters so the GPU benchmark can build a 1B+ one.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

COLOURS = ["red", "green", "blue", "yellow"]
SHAPES = ["circle", "square", "triangle"]
WORDS = ["what", "colour", "is", "the", "shape", "how", "many", "a", "an", "of", "there", "answer",
         "with", "one", "word", "yes", "no", "image", "this", "in", "describe", "?", ".", ","] + \
        COLOURS + SHAPES + [str(i) for i in range(10)]
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<image>", "[INST]", "[/INST]"]

# [INST] user [/INST] answer </s>: the turn ends with eos, as in LLaMA-2-chat.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] "
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    " [/INST]{% else %} {% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{{ m['content'][0]['text'] }}{% endif %}{{ eos_token }}{% endif %}{% endfor %}"
)


@dataclass(frozen=True)
class TinySizes:
    """Backbone and vision sizes of a synthetic LLaVA."""

    hidden: int = 32
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    ffn: int = 64
    vision_hidden: int = 32
    vision_layers: int = 2
    vision_heads: int = 4
    vision_ffn: int | None = None  # None: 2 x vision_hidden
    image_size: int = 16
    patch: int = 8
    extra_vocab: int = 0  # padding rows in the embedding (a LLaMA-3-like big vocabulary)


def build_tokenizer(extra_vocab: int = 0):
    """A word-level fast tokenizer with LLaMA-like specials (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS + WORDS)}
    for i in range(extra_vocab):
        vocab[f"<extra_{i}>"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"}, chat_template=CHAT_TEMPLATE,
    )


def build_checkpoint(out: Path, sizes: TinySizes = TinySizes(), seed: int = 0, dtype: str = "float32",
                     harness_json: dict | None = None) -> Path:
    """Save a random LLaVA + processor into ``out`` (created); returns ``out``."""
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(sizes.extra_vocab)
    vision = CLIPVisionConfig(hidden_size=sizes.vision_hidden, intermediate_size=sizes.vision_ffn or 2 * sizes.vision_hidden,
                              num_hidden_layers=sizes.vision_layers, num_attention_heads=sizes.vision_heads,
                              image_size=sizes.image_size, patch_size=sizes.patch, projection_dim=sizes.vision_hidden)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=sizes.hidden, intermediate_size=sizes.ffn,
                       num_hidden_layers=sizes.layers, num_attention_heads=sizes.heads,
                       num_key_value_heads=sizes.kv_heads,
                       # room for every image token (576 at 336/14) plus the prompt and the answer
                       max_position_embeddings=max(512, 4 * (sizes.image_size // sizes.patch) ** 2),
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         vision_feature_layer=-2, vision_feature_select_strategy="default",
                         projector_hidden_act="gelu")
    model = LlavaForConditionalGeneration(config).to(getattr(torch, dtype)).eval()
    image_processor = CLIPImageProcessor(size={"shortest_edge": sizes.image_size},
                                         crop_size={"height": sizes.image_size, "width": sizes.image_size})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=sizes.patch,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=CHAT_TEMPLATE)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "harness.json").write_text(json.dumps(harness_json or {"harness_version": "0.1.0", "format": 1}))
    return out


def scene_rows(n: int, seed: int = 0, image_size: int = 16) -> list[dict]:
    """``n`` toy VQA rows: a one-colour image and 'what colour is the image ?' -> colour."""
    from PIL import Image

    rng = random.Random(seed)
    palette = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 30)}
    rows = []
    for i in range(n):
        colour = rng.choice(COLOURS)
        shape = rng.choice(SHAPES)
        rows.append({"id": i, "image": Image.new("RGB", (image_size, image_size), palette[colour]),
                     "question": rng.choice(["what colour is the image ?", f"what colour is the {shape} ?"]),
                     "answer": colour, "choices": list(COLOURS), "qtype": "colour"})
    return rows


TASK_UTILS = '''
def doc_to_visual(doc):
    return [doc["image"].convert("RGB")]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["question"] + " answer with one word ."


def doc_to_choice(doc):
    return doc["choices"]


def process_results(doc, results):
    pred = results[0].strip().lower().split(" ")[0] if results[0].strip() else ""
    return {"exact_match": float(pred == doc["answer"])}
'''

GEN_YAML = """task: {name}
dataset_path: {data}
dataset_kwargs:
  load_from_disk: true
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: answer
generation_kwargs:
  max_new_tokens: {max_new_tokens}
  until: ["."]
  do_sample: false
process_results: !function utils.process_results
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  version: 0.1
"""

MC_YAML = """task: {name}
dataset_path: {data}
dataset_kwargs:
  load_from_disk: true
test_split: test
output_type: multiple_choice
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_choice: !function utils.doc_to_choice
doc_to_target: answer
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 0.1
"""


def build_task(folder: Path, n: int = 12, name: str = "toy_colour", seed: int = 0, image_size: int = 16,
               max_new_tokens: int = 6, multiple_choice: bool = False) -> Path:
    """Write a local lmms-eval task (YAML + utils + a dataset saved with ``datasets``) into ``folder``."""
    import datasets

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{name}_data"
    rows = scene_rows(n, seed, image_size)
    features = datasets.Features({"id": datasets.Value("int64"), "image": datasets.Image(),
                                  "question": datasets.Value("string"), "answer": datasets.Value("string"),
                                  "choices": datasets.Sequence(datasets.Value("string")),
                                  "qtype": datasets.Value("string")})
    ds = datasets.Dataset.from_list(rows, features=features)
    datasets.DatasetDict({"test": ds}).save_to_disk(str(data))
    (folder / "utils.py").write_text(TASK_UTILS)
    template = MC_YAML if multiple_choice else GEN_YAML
    (folder / f"{name}.yaml").write_text(template.format(name=name, data=data, max_new_tokens=max_new_tokens))
    return folder
