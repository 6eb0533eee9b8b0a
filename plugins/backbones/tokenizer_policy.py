"""Token policy shared by all LLaMA generations: a dedicated pad token (never EOS), the image token,
the chat format's special tokens checked, and embeddings resized to a multiple of 64 (prismatic-vlms).
"""
from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.kinds.backbone import IMAGE_TOKEN, PAD_TOKEN, VOCAB_MULTIPLE

from .chat_formats import get_format


def padded_vocab_size(n_tokens: int, multiple: int = VOCAB_MULTIPLE) -> int:
    """The embedding size for ``n_tokens``: rounded up to a multiple of ``multiple``."""
    return -(-n_tokens // multiple) * multiple


def token_id(tokenizer: Any, token: str) -> int | None:
    """The id of ``token`` if the tokenizer has it as one token, else None."""
    tid = tokenizer.convert_tokens_to_ids(token)
    if tid is None or (tid == tokenizer.unk_token_id and token != tokenizer.unk_token):
        return None
    return int(tid)


def check_format_tokens(tokenizer: Any, chat_format: str, source: str) -> None:
    """Raise a one-line error if the tokenizer lacks a special token the chat format needs."""
    fmt = get_format(chat_format)
    bos, eos = tokenizer.bos_token, tokenizer.eos_token
    if bos is None or eos is None:
        which = "bos_token" if bos is None else "eos_token"
        raise HarnessError(f"tokenizer in {source} has no {which}, which the {chat_format} chat format needs",
                           "set it in tokenizer_config.json or point backbone.path at the matching tokenizer")
    missing = [t for t in fmt.required_tokens(bos, eos) if token_id(tokenizer, t) is None]
    if missing:
        raise HarnessError(
            f"tokenizer in {source} lacks the special token(s) {', '.join(missing)} that the {chat_format} "
            "chat format needs",
            "use the tokenizer of this backbone generation (backbone.path with its tokenizer.json) "
            "or pick the backbone that matches the tokenizer",
        )


def apply_token_policy(tokenizer: Any, chat_format: str, source: str) -> Any:
    """Add the dedicated pad token and the image token (as special tokens), check the format's tokens,
    and set the format's chat template.

    Changes ``tokenizer`` in place and returns it. Idempotent: a tokenizer saved after this keeps them.
    """
    check_format_tokens(tokenizer, chat_format, source)
    new = [t for t in (PAD_TOKEN, IMAGE_TOKEN) if token_id(tokenizer, t) is None]
    if new:
        tokenizer.add_special_tokens({"additional_special_tokens": new}, replace_extra_special_tokens=False)
    tokenizer.pad_token = PAD_TOKEN
    template = get_format(chat_format).chat_template
    if template:  # so a saved checkpoint's processor formats prompts like render() does
        tokenizer.chat_template = template
    if tokenizer.pad_token_id == tokenizer.eos_token_id:  # cannot happen after the above; guards the invariant
        raise HarnessError(f"tokenizer in {source}: pad token equals EOS", "report this as a bug")
    return tokenizer


def resize_embeddings(model: Any, tokenizer: Any, source: str = "the backbone folder") -> None:
    """Grow the model's embeddings to hold every tokenizer token, padded to a multiple of 64.

    New rows are set to the mean of the old ones (no random draw, so loading is deterministic).
    Embeddings already large enough and a multiple of 64 are left alone (a saved harness checkpoint).
    A tokenizer with more new tokens than the policy adds (pad, image) belongs to another checkpoint:
    most of its ids would get untrained rows, so that is an error.
    """
    import torch

    have = model.get_input_embeddings().num_embeddings  # the weight's shape is empty when ZeRO-3 partitions it
    need = len(tokenizer)
    if need > have + len((PAD_TOKEN, IMAGE_TOKEN)):
        raise HarnessError(
            f"the tokenizer in {source} has {need} tokens but the model's embeddings have {have} rows: "
            "tokenizer and weights come from different checkpoints",
            "put the tokenizer files that were saved with these weights in the folder",
        )
    if have >= need and have % VOCAB_MULTIPLE == 0:
        target = have
    else:
        target = padded_vocab_size(max(need, have))
        from harness_plugins.vlm.zero3 import gathered

        model.resize_token_embeddings(target, mean_resizing=False)
        embeddings = [emb for emb in (model.get_input_embeddings(), model.get_output_embeddings()) if emb is not None]
        with torch.no_grad(), gathered([emb.weight for emb in embeddings]):  # a no-op unless ZeRO-3 partitions them
            for emb in embeddings:
                emb.weight[have:] = emb.weight[:have].mean(dim=0, keepdim=True)
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    assert target % VOCAB_MULTIPLE == 0
