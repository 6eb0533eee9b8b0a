"""Pretrain an organism as a causal LM on a token stream: a plain, seeded torch AdamW loop."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
import math


@dataclass(frozen=True)
class PretrainResult:
    """What a pretraining run did, for the model card and the build log."""

    steps: int
    tokens: int
    first_loss: float
    final_loss: float  # mean of the last 10% of steps
    seconds: float


def token_blocks(texts: Iterable[str], tokenizer, seq_len: int, batch_docs: int = 256) -> Iterator[list[int]]:
    """Pack documents (BOS text EOS) into consecutive blocks of ``seq_len`` tokens."""
    buf: list[int] = []
    chunk: list[str] = []

    def flush() -> Iterator[list[int]]:
        nonlocal buf
        for ids in tokenizer(chunk, add_special_tokens=True)["input_ids"]:
            buf.extend(ids)
            buf.append(tokenizer.eos_token_id)
        while len(buf) >= seq_len:
            yield buf[:seq_len]
            buf = buf[seq_len:]

    for text in texts:
        chunk.append(text)
        if len(chunk) == batch_docs:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain(model, blocks: Iterator[list[int]], token_budget: int, seq_len: int, batch_size: int, seed: int,
             peak_lr: float = 3e-3, on_step: Callable[[int, int, float], None] | None = None) -> PretrainResult:
    """Train ``model`` on ``token_budget`` tokens of ``blocks`` (``batch_size`` blocks per step)."""
    import time

    import torch

    torch.manual_seed(seed)
    steps = max(1, token_budget // (seq_len * batch_size))
    warmup = max(1, steps // 20)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=peak_lr, betas=(0.9, 0.95), eps=1e-8)
    model.train()
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(steps):
        batch = torch.tensor([next(blocks) for _ in range(batch_size)], dtype=torch.long)
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, steps, peak_lr, warmup)
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if on_step:
            on_step(step + 1, steps, losses[-1])
    model.eval()
    tail = losses[-max(1, steps // 10):]
    return PretrainResult(steps=steps, tokens=steps * seq_len * batch_size, first_loss=losses[0],
                          final_loss=sum(tail) / len(tail), seconds=time.perf_counter() - start)


HELDOUT_SEED = 987_654  # a corpus seed the pretraining stream never reads (it reads seed * 1_000_003 + k)


def heldout_bits_per_character(model, tokenizer, texts: list[str]) -> dict[str, float]:
    """Loss on held-out documents: nats per token, and bits per character (comparable across tokenizers)."""
    import torch

    nats, tokens = 0.0, 0
    model.eval()
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer.encode(text) + [tokenizer.eos_token_id]])
            n = ids.shape[1] - 1
            nats += float(model(input_ids=ids, labels=ids).loss) * n
            tokens += n
    chars = sum(len(t) + 1 for t in texts)
    return {"loss_per_token": round(nats / tokens, 4), "bits_per_character": round(nats / math.log(2) / chars, 4),
            "docs": len(texts)}
