"""Fixtures: the three LLaMA backbones and their (shipped organism) tokenizers, loaded once."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)  # other test areas run beside us on 2 cores


@pytest.fixture(scope="session")
def backbones():
    from harness_plugins.backbones.llama_backbone import Llama1, Llama2, Llama3

    return {"llama1": Llama1(), "llama2": Llama2(), "llama3": Llama3()}


class _Tokenizers(dict):
    """Each generation's tokenizer, loaded on first use."""

    def __init__(self, backbones):
        super().__init__()
        self.backbones = backbones

    def __missing__(self, name):
        self[name] = self.backbones[name].load_tokenizer()
        return self[name]


@pytest.fixture(scope="session")
def tokenizers(backbones):
    return _Tokenizers(backbones)
