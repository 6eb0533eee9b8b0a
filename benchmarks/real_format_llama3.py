"""A real-format LLaMA-3 backbone folder with tiny random weights, for CPU measurements at the real
vocabulary: 128256 tokens in LLaMA-3's id layout (128000 byte-level BPE entries, then the 256 special
tokens: ``<|begin_of_text|>`` 128000, ``<|end_of_text|>`` 128001, the header tokens 128006/128007,
``<|eot_id|>`` 128009, the rest reserved), context 8192, rope theta 5e5, GQA; hidden 64, 2 layers.

The real tokenizer cannot be downloaded here, so its first 4096 BPE entries and merges are the LLaMA-3
organism's and the other BPE ids are unused entries: text tokenizes like the organism's, and every
matrix that depends on the vocabulary (embedding, output head, logits) has the real size.

    python benchmarks/real_format_llama3.py FOLDER
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

VOCAB, BPE = 128256, 128000
SPECIAL = {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|start_header_id|>": 128006,
           "<|end_header_id|>": 128007, "<|eot_id|>": 128009}


def special_tokens() -> dict[str, int]:
    """LLaMA-3's 256 special tokens by id (the named ones, the others reserved, numbered as Meta numbers them)."""
    out, reserved = {}, 0
    named = {v: k for k, v in SPECIAL.items()}
    for token_id in range(BPE, VOCAB):
        if token_id in named:
            out[named[token_id]] = token_id
        else:
            out[f"<|reserved_special_token_{reserved}|>"] = token_id
            reserved += 1
    return out


def write_tokenizer(organism: Path, folder: Path) -> None:
    tok = json.loads((organism / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    assert max(vocab.values()) < BPE
    for token_id in range(len(vocab), BPE):
        vocab[f"<|unused_bpe_{token_id}|>"] = token_id
    template = tok["added_tokens"][0]
    tok["added_tokens"] = [template | {"id": i, "content": t} for t, i in special_tokens().items()]
    for processor in tok["post_processor"]["processors"]:
        for entry in processor.get("special_tokens", {}).values():
            entry["ids"] = [SPECIAL[t] for t in entry["tokens"]]
    (folder / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False))
    config = json.loads((organism / "tokenizer_config.json").read_text()) | {"model_max_length": 8192}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


def build(folder: Path, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Write config, tokenizer and seeded random safetensors weights to ``folder``; returns it."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from harness_plugins.organisms.specs import ORGANISMS

    organism = Path(__import__("harness_plugins.organisms", fromlist=["x"]).__file__).parent / "llama3"
    folder.mkdir(parents=True, exist_ok=True)
    spec = ORGANISMS["llama3"]
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=round(hidden * 14336 / 4096),
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=1,
                         max_position_embeddings=8192, rms_norm_eps=spec.rms_norm_eps, rope_theta=spec.rope_theta,
                         tie_word_embeddings=False, bos_token_id=SPECIAL["<|begin_of_text|>"],
                         eos_token_id=SPECIAL["<|end_of_text|>"])
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id)
    model.save_pretrained(folder)
    write_tokenizer(organism, folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    print(build(args.folder))


if __name__ == "__main__":
    main()
