"""Vision tests: tiny random CLIP folders in tmp_path; torch on two threads."""
from pathlib import Path

import pytest
import torch

from torchthreads import few_threads  # noqa: F401 (autouse)


def tiny_vision_config():
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=24, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
                            image_size=32, patch_size=8)


@pytest.fixture
def clip_vision_dir(tmp_path: Path) -> Path:
    """A vision-only CLIP folder without a preprocessor config (CLIP's statistics apply)."""
    from transformers import CLIPVisionModel

    torch.manual_seed(0)
    out = tmp_path / "clip-vision"
    CLIPVisionModel(tiny_vision_config()).save_pretrained(out)
    return out


@pytest.fixture
def clip_two_tower_dir(tmp_path: Path) -> Path:
    """A full CLIPModel folder, the layout of openai/clip-vit-large-patch14-336 on the Hub."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(vision_config=tiny_vision_config().to_dict(),
                        text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, vocab_size=40, eos_token_id=2),
                        projection_dim=8)
    out = tmp_path / "clip-two-tower"
    CLIPModel(config).save_pretrained(out)
    return out
