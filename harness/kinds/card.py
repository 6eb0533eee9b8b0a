"""What backbone and vision-encoder plugins share: a model card, named by the plugin's spec."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.model_cards import ModelCard


class CardBacked:
    """A plugin implementation described by a model card (``model_cards/<card_name>.yaml`` or a path)."""

    card_name: str  # a model card name in model_cards/ (e.g. "llama3") or a path to a YAML file

    def __init__(self, card: str | None = None):
        if card is not None:
            self.card_name = card

    @property
    def card(self) -> ModelCard:
        from harness.model_cards import load_card

        return load_card(self.card_name)
