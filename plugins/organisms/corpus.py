"""Text the LLaMA organisms learn from: the scene world's language (descriptions, relations, counting,
arithmetic, filler), as an endless seeded stream, plus the chat formats' fixed wording for the
tokenizers so that rendered prompts stay short.

The scene world has only a few hundred distinct words, so BPE vocabularies saturate below 1000
entries and a 4x larger LLaMA-3 vocabulary would be impossible. One document in twenty is therefore
"long-tail" text: pseudo-words from a fixed seeded lexicon with Zipf frequencies, standing in for the
rare words of natural language. It gives the vocabulary sizes the room they have on real text
(LLaMA-1/2 split more words into pieces than LLaMA-3), at 5% of the pretraining tokens.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from functools import lru_cache

from harness.errors import HarnessError

CHUNK_DOCS = 10_000  # documents per seeded chunk of the stream
LONG_TAIL_EVERY = 20  # one document in 20 is long-tail text
LEXICON_SIZE = 30_000
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]

TextSource = Callable[[int, int], Iterator[str]]  # (seed, n) -> n documents


def scene_corpus() -> TextSource:
    """The scene world's ``corpus(seed, n)`` text iterator."""
    try:
        from harness_plugins.scene.world import corpus
    except ImportError as exc:
        raise HarnessError(f"the scene world is not available ({exc})",
                           "install the harness package with its scene plugin (harness_plugins.scene)") from None
    return corpus


@lru_cache(maxsize=1)
def lexicon() -> tuple[list[str], list[float]]:
    """Fixed pseudo-words (1-4 syllables) and their Zipf weights; the same for every build."""
    rng = random.Random(1234)
    words = sorted({"".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))
                    for _ in range(LEXICON_SIZE)})
    rng.shuffle(words)
    return words, [1.0 / (rank + 1) for rank in range(len(words))]


def long_tail(seed: int, n: int) -> Iterator[str]:
    """``n`` documents of Zipf-distributed pseudo-words, as sentences."""
    words, weights = lexicon()
    rng = random.Random(seed)
    for _ in range(n):
        sentences = []
        for _ in range(rng.randint(1, 4)):
            sentence = rng.choices(words, weights, k=rng.randint(4, 12))
            sentences.append(" ".join(sentence).capitalize() + ".")
        yield " ".join(sentences)


def stream(source: TextSource, seed: int) -> Iterator[str]:
    """Endless documents: chunk k is ``source(seed * 1_000_003 + k, CHUNK_DOCS)`` with one long-tail
    document after every ``LONG_TAIL_EVERY - 1`` of them.

    Every generation reads the same stream; a bigger token budget reads further into it.
    """
    chunk = 0
    while True:
        tail = long_tail(seed * 1_000_003 + chunk + 7, CHUNK_DOCS)
        for i, doc in enumerate(source(seed * 1_000_003 + chunk, CHUNK_DOCS)):
            yield doc
            if i % (LONG_TAIL_EVERY - 1) == LONG_TAIL_EVERY - 2:
                yield next(tail)
        chunk += 1


def chat_wording() -> list[str]:
    """The fixed text of the chat formats (system prompts, role markers), for tokenizer training."""
    from harness_plugins.backbones.chat_formats import LLAMA2_SYSTEM, VICUNA_SYSTEM

    return [VICUNA_SYSTEM, f"USER: ASSISTANT: [INST] <<SYS>>\n{LLAMA2_SYSTEM}\n<</SYS>>\n\n [/INST]",
            "system user assistant"]


def tokenizer_texts(source: TextSource, seed: int, n_docs: int) -> list[str]:
    """The tokenizer training corpus: the first ``n_docs`` of the stream, plus the chat wording
    repeated in proportion (1 per 200 documents) so the formats' words become single tokens."""
    docs = []
    for doc in stream(source, seed):
        docs.append(doc)
        if len(docs) == n_docs:
            break
    return docs + chat_wording() * max(1, n_docs // 200)
