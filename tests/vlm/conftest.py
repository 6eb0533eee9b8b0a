"""Tiny random parts for composition tests: a LLaMA, a tokenizer with <image>, a CLIP tower."""
from pathlib import Path

import pytest
import torch

from torchthreads import few_threads  # noqa: F401 (autouse)
from vlmtools import make_tokenizer


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
