"""Render a conversation into token ids and labels, and check them against a full re-tokenization.

Labels are built piece by piece (each piece of the chat format tokenized on its own, a piece after a
special token tokenized in that token's context), then the concatenation is compared with the
tokenization of the whole rendered string. A disagreement is LLaVA's "tokenization mismatch": here it
is an error naming the sample, never a silently masked sample.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.errors import HarnessError
from harness.kinds.backbone import IGNORE_INDEX, IMAGE_TOKEN, Rendered

from .chat_formats import GPT, HUMAN, Piece, get_format, parse_conversation
from .tokenizer_policy import token_id


def _special_strings(tokenizer: Any) -> list[str]:
    names = set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab())
    return sorted(names, key=len, reverse=True)


def _trailing_special(text: str, specials: list[str]) -> str | None:
    return next((s for s in specials if text.endswith(s)), None)


def _encode_piece(tokenizer: Any, piece: Piece, anchor: str | None) -> list[int]:
    """Token ids of one piece; ``anchor`` is the special token right before it, if any.

    A special token is a hard boundary, but some pre-tokenizers (SentencePiece's prefix space) treat
    text at the start of the input differently from text after a special token; encoding the anchor
    with the piece and dropping it reproduces the in-context tokenization.
    """
    if piece.special:
        tid = token_id(tokenizer, piece.text)
        if tid is None:
            raise HarnessError(f"tokenizer lacks the special token {piece.text!r}", "check backbone.path")
        return [tid]
    if anchor is None:
        return tokenizer.encode(piece.text, add_special_tokens=False)
    ids = tokenizer.encode(anchor + piece.text, add_special_tokens=False)
    return ids[1:]


def _pieces(conversation: Sequence[dict], tokenizer: Any, chat_format: str, sample_id: str,
            num_image_tokens: int, ends_with: str) -> list[Piece]:
    fmt = get_format(chat_format)
    system, turns = parse_conversation(conversation, sample_id, ends_with=ends_with)
    pieces = fmt.pieces(system, turns, tokenizer.bos_token, tokenizer.eos_token, IMAGE_TOKEN)
    if any(IMAGE_TOKEN in p.text for p in pieces):
        if token_id(tokenizer, IMAGE_TOKEN) is None:
            raise HarnessError(f"sample {sample_id} has an {IMAGE_TOKEN} placeholder but the tokenizer has no "
                               "image token", "load the tokenizer through the backbone plugin (it adds it)")
        if num_image_tokens != 1:
            pieces = [Piece(p.text.replace(IMAGE_TOKEN, IMAGE_TOKEN * num_image_tokens), p.supervised, p.special)
                      for p in pieces]
    return pieces


def render_conversation(conversation: Sequence[dict], tokenizer: Any, chat_format: str, sample_id: str = "?",
                        num_image_tokens: int = 1) -> Rendered:
    """Ids and labels of a conversation ending with an assistant turn; labels are IGNORE_INDEX except the
    assistant text and its turn-end token(s). Raises a one-line error on a tokenization mismatch."""
    pieces = _pieces(conversation, tokenizer, chat_format, sample_id, num_image_tokens, ends_with=GPT)
    specials = _special_strings(tokenizer)
    ids, labels = [tokenizer.bos_token_id], [IGNORE_INDEX]
    anchor = None
    for piece in pieces:
        piece_ids = _encode_piece(tokenizer, piece, anchor)
        ids += piece_ids
        labels += piece_ids if piece.supervised else [IGNORE_INDEX] * len(piece_ids)
        anchor = _trailing_special(piece.text, specials)
    text = "".join(p.text for p in pieces)
    full = [tokenizer.bos_token_id] + tokenizer.encode(text, add_special_tokens=False)
    if full != ids:
        at = next((i for i, (a, b) in enumerate(zip(ids, full)) if a != b), min(len(ids), len(full)))
        got = tokenizer.convert_ids_to_tokens(ids[at:at + 3])
        want = tokenizer.convert_ids_to_tokens(full[at:at + 3])
        raise HarnessError(
            f"tokenization mismatch in sample {sample_id} ({chat_format} format): the label pieces give "
            f"{len(ids)} tokens, the rendered text {len(full)}; first difference at token {at}: {got} vs {want}",
            "nothing is masked silently: fix the sample text, or the tokenizer "
            "(its pre-tokenizer must split at the chat format's piece boundaries)",
        )
    return Rendered(input_ids=ids, labels=labels, text=text)


def render_prompt(conversation: Sequence[dict], tokenizer: Any, chat_format: str, sample_id: str = "?",
                  num_image_tokens: int = 1) -> list[int]:
    """Ids of a conversation ending with a human turn, followed by the assistant header, for generation."""
    pieces = _pieces(conversation, tokenizer, chat_format, sample_id, num_image_tokens, ends_with=HUMAN)
    return [tokenizer.bos_token_id] + tokenizer.encode("".join(p.text for p in pieces), add_special_tokens=False)


def stop_token_ids(tokenizer: Any, chat_format: str) -> list[int]:
    """Ids that end an assistant turn in ``chat_format``, the format's own turn end first."""
    fmt = get_format(chat_format)
    found = [token_id(tokenizer, t) for t in fmt.stop_tokens(tokenizer.bos_token, tokenizer.eos_token)]
    return [t for t in found if t is not None]
