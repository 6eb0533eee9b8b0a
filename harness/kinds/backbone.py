"""The backbone plugin kind: what an LLM family gives the harness (tokenizer, model, chat rendering).

Import-light: no torch or transformers at module level. A backbone generation (say LLaMA-3) is one
subclass; its variants (the ``tiny`` organism, real sizes) come from its model card.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.kinds.card import CardBacked

IMAGE_TOKEN = "<image>"  # placeholder in human text; a special token of every backbone tokenizer
PAD_TOKEN = "<pad>"  # dedicated pad token: EOS is never reused as pad
IGNORE_INDEX = -100  # label of positions the loss ignores
VOCAB_MULTIPLE = 64  # embeddings are resized to a multiple of this (prismatic-vlms)

Conversation = Sequence[dict[str, str]]  # LLaVA style: [{"from": "human"|"gpt"|"system", "value": str}]


@dataclass(frozen=True)
class Rendered:
    """A conversation as token ids and labels (IGNORE_INDEX except assistant text and turn ends)."""

    input_ids: list[int]
    labels: list[int]
    text: str = ""  # the rendered string (without BOS), for inspection and error messages


class Backbone(CardBacked, ABC):
    """One LLM generation: its model card, chat format, tokenizer policy and loaders."""

    @property
    def chat_format(self) -> str:
        """The name of the chat format conversations are rendered in (from the model card)."""
        return str(self.card.chat_format)

    @abstractmethod
    def weights_dir(self, variant: str | None = None, path: str | Path | None = None) -> Path:
        """The folder ``from_pretrained`` loads: ``path`` if given, else the variant's packaged
        organism folder or its Hugging Face repository in the local cache. One-line error if absent."""

    @abstractmethod
    def load_tokenizer(self, variant: str | None = None, path: str | Path | None = None) -> Any:
        """The tokenizer with the harness token policy applied (pad and image tokens added)."""

    @abstractmethod
    def load_model(self, variant: str | None = None, path: str | Path | None = None, dtype: str = "float32",
                   attn_implementation: str = "sdpa", tokenizer: Any = None) -> Any:
        """The causal LM (``from_pretrained`` on :meth:`weights_dir`), embeddings resized for ``tokenizer``."""

    @abstractmethod
    def render(self, conversation: Conversation, tokenizer: Any, sample_id: str = "?",
               num_image_tokens: int = 1) -> Rendered:
        """Token ids and labels of a whole conversation (ends with an assistant turn)."""

    @abstractmethod
    def prompt(self, conversation: Conversation, tokenizer: Any, sample_id: str = "?",
               num_image_tokens: int = 1) -> list[int]:
        """Token ids to generate the next assistant turn from (conversation ends with a human turn)."""

    @abstractmethod
    def stop_token_ids(self, tokenizer: Any) -> list[int]:
        """Token ids that end an assistant turn (generation stops at any of them), the one the chat
        format writes at a turn's end first: exports name it as EOS for stock tools."""
