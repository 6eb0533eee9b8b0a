"""Train the organisms' tokenizers with the Hugging Face ``tokenizers`` library, LLaMA-style.

LLaMA-1/2: SentencePiece-style BPE (``▁`` word marker, prefix space on the first word, digits split
one by one, punctuation apart, byte fallback through 256 ``<0xNN>`` tokens at ids 3-258, ``<unk>``/``<s>``/``</s>`` at
0/1/2). LLaMA-3: tiktoken-style byte-level BPE (LLaMA-3's split regex, numbers in groups of up to
three digits) followed by the generation's special tokens (``<|begin_of_text|>`` ...). Both save as
Hugging Face tokenizer files that ``AutoTokenizer.from_pretrained`` loads.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

SPM_SPECIALS = ("<unk>", "<s>", "</s>")
BYTE_TOKENS = tuple(f"<0x{i:02X}>" for i in range(256))
# Meta's LLaMA-3 pre-tokenizer pattern (from its tokenizer.json).
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# LLaMA-3's first special tokens, in Meta's order (128000 ...), shortened to 10.
LLAMA3_SPECIALS = ("<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                   "<|reserved_special_token_1|>", "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
                   "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>")


def train_sentencepiece_bpe(texts: Iterable[str], vocab_size: int):
    """A LLaMA-1/2-style tokenizer (``tokenizers.Tokenizer``) of exactly ``vocab_size`` entries at most."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True),
        pre_tokenizers.Digits(individual_digits=True),
        # SentencePiece splits by Unicode script, so punctuation never merges into a word piece.
        pre_tokenizers.Punctuation(behavior="isolated"),
    ])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(BYTE_TOKENS), special_tokens=list(SPM_SPECIALS),
                                  limit_alphabet=200, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    # Put the 256 byte-fallback tokens right after the specials, as in LLaMA's vocabulary.
    raw = json.loads(tok.to_str())
    trained = sorted(raw["model"]["vocab"].items(), key=lambda kv: kv[1])
    order = list(SPM_SPECIALS) + list(BYTE_TOKENS) + [t for t, _ in trained if t not in SPM_SPECIALS
                                                       and t not in BYTE_TOKENS]
    raw["model"]["vocab"] = {t: i for i, t in enumerate(order)}
    tok = Tokenizer.from_str(json.dumps(raw))
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    return tok


def train_byte_level_bpe(texts: Iterable[str], vocab_size: int):
    """A LLaMA-3-style tokenizer: ``vocab_size`` byte-level BPE entries, then the special tokens."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in LLAMA3_SPECIALS])
    tok.decoder = decoders.ByteLevel()
    bos_id = tok.token_to_id(LLAMA3_SPECIALS[0])
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{LLAMA3_SPECIALS[0]} $A",
                                      pair=f"{LLAMA3_SPECIALS[0]} $A {LLAMA3_SPECIALS[0]} $B",
                                      special_tokens=[(LLAMA3_SPECIALS[0], bos_id)]),
    ])
    return tok


def save_hf_tokenizer(tok, out_dir: Path, bos: str, eos: str, unk: str | None, model_max_length: int) -> None:
    """Save as Hugging Face tokenizer files (tokenizer.json + tokenizer_config.json), no pad token:
    like the real LLaMA tokenizers; the harness's token policy adds pad and image tokens at load."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, unk_token=unk,
                                   model_max_length=model_max_length, clean_up_tokenization_spaces=False)
    fast.save_pretrained(str(out_dir))
