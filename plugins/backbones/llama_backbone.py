"""The LLaMA backbone implementation (one class per generation): loaders, token policy, rendering."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.kinds.backbone import Backbone, Conversation, Rendered
from harness.model_folders import load_pretrained

from . import loading
from .render import render_conversation, render_prompt, stop_token_ids
from .tokenizer_policy import apply_token_policy, resize_embeddings

# Attention layout per generation, at every size: LLaMA-1 never used GQA, LLaMA-3 always does,
# LLaMA-2 uses it only at 70B.
ATTENTION = {"llama1": "mha", "llama2": "any", "llama3": "gqa"}
DTYPES = ("float32", "bfloat16", "float16")


def expected(card_name: str) -> loading.Expected:
    """What a checkpoint of this generation (real or organism) looks like in config.json."""
    from harness.model_cards import load_card
    from harness_plugins.organisms.specs import ORGANISMS

    facts = load_card(card_name).facts
    scales: tuple[tuple[int, int | None], ...] = ((int(facts["context"]), int(facts["vocab_size"])),)
    if card_name in ORGANISMS:
        scales += ((ORGANISMS[card_name].context, None),)
    return loading.Expected(generation=card_name, rope_theta=float(facts["rope_theta"]),
                            rms_norm_eps=float(facts["rms_norm_eps"]), scales=scales,
                            attention=ATTENTION.get(card_name, "any"))


class LlamaBackbone(Backbone):
    """A LLaMA generation; subclasses name the model card."""

    card_name = "llama3"

    def weights_dir(self, variant: str | None = None, path: str | Path | None = None) -> Path:
        folder = loading.weights_dir(self.card, variant, path)
        others = {name: expected(name) for name in ATTENTION if name != self.card_name}
        loading.check_architecture(folder, expected(self.card_name), others)
        return folder

    def load_tokenizer(self, variant: str | None = None, path: str | Path | None = None) -> Any:
        from transformers import AutoTokenizer

        folder = self.weights_dir(variant, path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
        except Exception as exc:  # transformers raises OSError/ValueError/... for a missing or broken tokenizer
            raise HarnessError(f"cannot load the tokenizer in {folder} ({str(exc).splitlines()[0]})",
                               "the folder needs tokenizer.json (or tokenizer.model) and tokenizer_config.json") from None
        return apply_token_policy(tokenizer, self.chat_format, str(folder / "tokenizer_config.json"))

    def load_model(self, variant: str | None = None, path: str | Path | None = None, dtype: str = "float32",
                   attn_implementation: str = "sdpa", tokenizer: Any = None) -> Any:
        import torch
        from transformers import LlamaForCausalLM

        if dtype not in DTYPES:
            raise HarnessError(f"unknown dtype {dtype!r}", f"use one of {', '.join(DTYPES)}")
        folder = self.weights_dir(variant, path)
        tokenizer = tokenizer if tokenizer is not None else self.load_tokenizer(variant, path)
        model = load_pretrained(lambda: LlamaForCausalLM.from_pretrained(
            str(folder), dtype=getattr(torch, dtype), attn_implementation=attn_implementation), folder, loading.KEY)
        resize_embeddings(model, tokenizer, str(folder))
        return model

    def render(self, conversation: Conversation, tokenizer: Any, sample_id: str = "?",
               num_image_tokens: int = 1) -> Rendered:
        return render_conversation(conversation, tokenizer, self.chat_format, sample_id, num_image_tokens)

    def prompt(self, conversation: Conversation, tokenizer: Any, sample_id: str = "?",
               num_image_tokens: int = 1) -> list[int]:
        return render_prompt(conversation, tokenizer, self.chat_format, sample_id, num_image_tokens)

    def stop_token_ids(self, tokenizer: Any) -> list[int]:
        return stop_token_ids(tokenizer, self.chat_format)


class Llama1(LlamaBackbone):
    card_name = "llama1"


class Llama2(LlamaBackbone):
    card_name = "llama2"


class Llama3(LlamaBackbone):
    card_name = "llama3"
