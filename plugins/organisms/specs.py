"""What each LLaMA organism is: the real generation's differences, scaled down.

Real (REFERENCE.md section 2) -> organism: vocabulary 32000/32000/128256 -> 1024/1024/4106;
MHA/MHA/GQA (4 query heads per KV head, as 32/8); rope theta 1e4/1e4/5e5; context 2048/4096/8192
-> 256/512/1024; rms_norm_eps 1e-6/1e-5/1e-5; FFN/hidden 11008/4096 and 14336/4096; pretraining
tokens 1T/2T/15T -> 1:2:15 units of the same corpus stream.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

HIDDEN = 128
LAYERS = 4
HEADS = 8
TRAIN_SEQ_LEN = 256  # every organism pretrains on 256-token blocks (the corpus's documents are short)
BATCH_SIZE = 8
# 1 unit = LLaMA-1's budget: 128 steps of 8x256 tokens (full), 2 steps (quick). At 16 steps LLaMA-1 was no
# language model (held-out 1.38 bits per character, 4.08 nats per token); at 128 it is one (0.29 bits per
# character; 0.22 at 512 steps). The whole build is 18 units (2,304 steps).
TOKENS_PER_UNIT = {"full": 262_144, "quick": 4_096}


@dataclass(frozen=True)
class OrganismSpec:
    """One LLaMA organism: tokenizer kind, architecture and pretraining budget."""

    name: str
    generation: int
    tokenizer: str  # "sentencepiece_bpe" or "byte_level_bpe"
    vocab_size: int  # entries of the trained tokenizer, special tokens included
    bos: str
    eos: str
    unk: str | None
    num_kv_heads: int
    ffn_size: int
    rope_theta: float
    context: int
    rms_norm_eps: float
    token_units: int
    hidden_size: int = HIDDEN
    num_layers: int = LAYERS
    num_heads: int = HEADS

    def token_budget(self, quick: bool) -> int:
        return self.token_units * TOKENS_PER_UNIT["quick" if quick else "full"]

    def llama_config(self, vocab_size: int, bos_token_id: int, eos_token_id: int) -> Any:
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=vocab_size, hidden_size=self.hidden_size, intermediate_size=self.ffn_size,
            num_hidden_layers=self.num_layers, num_attention_heads=self.num_heads,
            num_key_value_heads=self.num_kv_heads, max_position_embeddings=self.context,
            rms_norm_eps=self.rms_norm_eps, rope_theta=self.rope_theta, tie_word_embeddings=False,
            initializer_range=0.02, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
        )

    def architecture(self) -> dict[str, Any]:
        """The facts recorded in the model card's ``tiny`` variant."""
        facts = asdict(self)
        for key in ("name", "generation", "bos", "eos", "unk", "token_units"):
            facts.pop(key)
        facts["attention"] = "GQA" if self.num_kv_heads < self.num_heads else "MHA"
        return facts


def ffn(ratio_num: int, ratio_den: int) -> int:
    return round(HIDDEN * ratio_num / ratio_den)


ORGANISMS: dict[str, OrganismSpec] = {
    "llama1": OrganismSpec("llama1", 1, "sentencepiece_bpe", 1024, "<s>", "</s>", "<unk>", HEADS, ffn(11008, 4096),
                           1e4, 256, 1e-6, 1),
    "llama2": OrganismSpec("llama2", 2, "sentencepiece_bpe", 1024, "<s>", "</s>", "<unk>", HEADS, ffn(11008, 4096),
                           1e4, 512, 1e-5, 2),
    "llama3": OrganismSpec("llama3", 3, "byte_level_bpe", 4096, "<|begin_of_text|>", "<|end_of_text|>", None,
                           HEADS // 4, ffn(14336, 4096), 5e5, 1024, 1e-5, 15),
}
