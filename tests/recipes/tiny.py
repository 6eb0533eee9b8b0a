"""A tiny LlavaForConditionalGeneration built from stock transformers configs, and learnable samples."""
from __future__ import annotations

import torch

VOCAB, IMAGE_TOKEN, PAD = 64, 63, 0
IMAGE_SIZE, PATCH = 28, 14
IMAGE_TOKENS = (IMAGE_SIZE // PATCH) ** 2


def build_tiny_llava(seed: int = 0):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    torch.manual_seed(seed)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=IMAGE_SIZE, patch_size=PATCH)
    text = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                       num_key_value_heads=1, vocab_size=VOCAB, max_position_embeddings=64, pad_token_id=PAD)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=IMAGE_TOKEN, vision_feature_layer=-2)
    return LlavaForConditionalGeneration(config)


def tiny_samples(n: int = 32, seed: int = 0) -> list[dict]:
    """Image-conditioned samples: the answer token is a function of the image's mean colour."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        cls = i % 4
        pixels = torch.randn(3, IMAGE_SIZE, IMAGE_SIZE, generator=gen) * 0.1 + (cls - 1.5)
        prompt = [1] + [IMAGE_TOKEN] * IMAGE_TOKENS + [5, 6, 7][: 1 + i % 3]
        answer = [10 + cls, 2]
        ids = prompt + answer
        labels = [-100] * len(prompt) + answer
        out.append({"input_ids": ids, "labels": labels, "pixel_values": pixels})
    return out
