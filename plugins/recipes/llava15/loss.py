"""The training loss without the full logits: only supervised positions (labels != -100) go through
the output head, on CUDA with Triton through liger-kernel's fused linear cross-entropy, elsewhere a
chunked torch version whose peak memory is one chunk of positions x the vocabulary.

LLaMA-3's 128256-token vocabulary makes the logits the largest tensor of a training step (a micro-batch
of 16 x 2048 positions: 16 GiB in bf16, more for the softmax and its gradient); the loss and gradients
are those of transformers' ``ForCausalLMLoss`` (mean cross-entropy over supervised positions).

``recipe.loss_average`` says what the mean is over. ``token`` (LLaVA-1.5's, the default): every supervised
token of the micro-batch counts once, so an answer weighs as many tokens as it has. ``exchange``: every
answer (a run of consecutive supervised positions: one assistant turn and its end-of-turn token) counts
once, its tokens sharing its weight, so a one-word answer weighs as much as a 60-token description.
"""
from __future__ import annotations

import functools
import importlib.util
import types
from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100
# The chunked kernel's logits budget: positions per chunk = this / (vocabulary x 4 bytes) (float32 logits).
CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class LossChoice:
    """Which loss a stage computes and why (recorded in the stage summary)."""

    name: str  # "liger" | "chunked" | "plain"
    reason: str


AVERAGES = ("token", "exchange")


def choose_loss(fused: bool, device: str, average: str = "token") -> LossChoice:
    """liger-kernel on CUDA when it and Triton are installed, else the chunked torch kernel; ``plain``
    (full logits, transformers' own loss) when ``recipe.fused_loss=false``. ``average="exchange"`` needs
    per-position weights, which liger's kernel does not take: the chunked kernel then, on every device.
    Imports nothing heavy."""
    if not fused:
        return LossChoice("plain", "recipe.fused_loss=false: full logits and transformers' cross-entropy")
    if not device.startswith("cuda"):
        return LossChoice("chunked", f"on {device}: chunked torch linear cross-entropy (liger-kernel needs CUDA)")
    if average != "token":
        return LossChoice("chunked", f"recipe.loss_average={average}: chunked torch linear cross-entropy "
                                     "(liger-kernel's averages over tokens)")
    missing = [m for m in ("liger_kernel", "triton") if importlib.util.find_spec(m) is None]
    if missing:
        return LossChoice("chunked", f"{' and '.join(missing)} not installed (pip install 'harness[liger]'): "
                                     "chunked torch linear cross-entropy")
    return LossChoice("liger", "CUDA with Triton: liger-kernel's fused linear cross-entropy")


def chunk_positions(vocab_size: int, budget: int = CHUNK_BYTES) -> int:
    """Positions per chunk so that one chunk's float32 logits stay within ``budget`` bytes."""
    return max(1, budget // (4 * vocab_size))


def _chunked_forward(ctx: Any, hidden: Any, weight: Any, targets: Any, chunk: int, rows: Any) -> Any:
    """``rows``: each position's weight in the loss (summing to 1), or None for the mean over positions."""
    import torch

    n = hidden.shape[0]
    want_hidden, want_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    grad_hidden = torch.empty_like(hidden) if want_hidden else None
    grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if want_weight else None
    for start in range(0, n, chunk):
        h, t = hidden[start:start + chunk], targets[start:start + chunk]
        logits = (h @ weight.t()).float()
        lse = torch.logsumexp(logits, dim=-1)
        w = None if rows is None else rows[start:start + chunk].float()
        ce = lse - logits.gather(1, t[:, None]).squeeze(1)
        total += ce.sum() if w is None else (ce * w).sum()
        if not (want_hidden or want_weight):
            continue
        # d(sum of cross-entropies)/d(logits) = softmax - one_hot(target); the gradients are made now,
        # while the chunk's logits exist, so backward needs neither the logits nor the weight.
        probs = logits.sub_(lse[:, None]).exp_()
        probs[torch.arange(t.shape[0], device=t.device), t] -= 1.0
        if w is not None:
            probs.mul_(w[:, None])
        if want_hidden:
            grad_hidden[start:start + chunk] = probs.to(hidden.dtype) @ weight
        if want_weight:
            grad_weight.addmm_(probs.t(), h.float())
    # no supervised position: NaN, as transformers' mean gives; weighted rows carry their own scale
    scale = float("nan") if not n else (1.0 / n if rows is None else 1.0)
    ctx.save_for_backward(grad_hidden * scale if want_hidden else None,
                          (grad_weight * scale).to(weight.dtype) if want_weight else None)
    return total * scale


def _chunked_backward(ctx: Any, grad_output: Any) -> tuple[Any, ...]:
    grad_hidden, grad_weight = ctx.saved_tensors
    return (grad_hidden * grad_output if grad_hidden is not None else None,
            grad_weight * grad_output if grad_weight is not None else None, None, None, None)


@functools.cache
def _chunked_function() -> Any:
    """The autograd Function, made on first use (torch is not imported when this module is)."""
    import torch

    return type("ChunkedLinearCrossEntropy", (torch.autograd.Function,),
                {"forward": staticmethod(_chunked_forward), "backward": staticmethod(_chunked_backward)})


def chunked_linear_cross_entropy(hidden: Any, weight: Any, targets: Any, chunk: int | None = None,
                                 rows: Any = None) -> Any:
    """Mean cross-entropy of ``hidden @ weight.T`` against ``targets`` (no ignored entries), computed
    ``chunk`` positions at a time; gradients for ``hidden`` and ``weight`` as autograd would give.
    ``rows`` (one weight per position, summing to 1) makes it the weighted sum instead of the mean."""
    return _chunked_function().apply(hidden, weight, targets, chunk or chunk_positions(weight.shape[0]), rows)


def linear_cross_entropy(hidden: Any, weight: Any, targets: Any, kernel: str, rows: Any = None) -> Any:
    """The cross-entropy over the given positions through ``kernel`` ("liger", "chunked" or "plain": full
    logits): their mean, or with ``rows`` (per-position weights summing to 1; not liger) their weighted sum."""
    if kernel == "liger":
        if rows is not None:
            raise ValueError("liger-kernel's loss averages over tokens: weighted rows need the chunked kernel")
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        return LigerFusedLinearCrossEntropyLoss(ignore_index=IGNORE_INDEX)(weight, hidden, targets)
    if kernel == "plain":
        import torch.nn.functional as F

        ce = F.cross_entropy((hidden @ weight.t()).float(), targets, reduction="none")
        return ce.mean() if rows is None else (ce * rows.to(ce.dtype)).sum()
    return chunked_linear_cross_entropy(hidden, weight, targets, rows=rows)


def exchange_weights(keep: Any) -> Any:
    """Per supervised position of ``keep`` ([batch, positions] bool, taken in row-major order), the weight
    that makes every answer count once: 1 / (its answer's length x the answers in ``keep``). An answer is a
    run of consecutive supervised positions (a prompt or another turn's question separates two)."""
    import torch

    before = torch.zeros_like(keep)
    before[:, 1:] = keep[:, :-1]
    answer = ((keep & ~before).flatten().cumsum(0) - 1)[keep.flatten()]  # each position's answer index
    lengths = torch.bincount(answer)
    return 1.0 / (lengths[answer].double() * len(lengths))


def supervised_loss(hidden: Any, labels: Any, weight: Any, kernel: str, average: str = "token") -> Any:
    """Causal-LM loss from the last hidden states: position i predicts label i+1, and only positions
    whose next label is supervised are gathered and sent through the head. ``average``: "token" (every
    supervised position counts once) or "exchange" (every answer counts once; see the module docstring)."""
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    rows = exchange_weights(keep).to(hidden.device) if average == "exchange" and bool(keep.any()) else None
    return linear_cross_entropy(hidden[:, :-1][keep], weight, targets[keep], kernel, rows)


def _llava(model: Any) -> Any:
    """The LlavaForConditionalGeneration inside ``model`` (a peft wrapper when LoRA is on)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def use_supervised_loss(model: Any, choice: LossChoice, average: str = "token") -> None:
    """Make ``model(..., labels=...)`` compute its loss with ``choice``, averaged as ``average`` says
    (nothing changes for ``plain`` over tokens: transformers' own loss).

    Call after ``deepspeed.initialize``: under ZeRO-3 the output head's weight is registered as an
    external parameter of the LLaVA module, so DeepSpeed gathers it for that module's forward (the head's
    own forward never runs)."""
    if choice.name == "plain" and average == "token":
        return
    llava = _llava(model)
    weight = llava.get_output_embeddings().weight
    if hasattr(weight, "ds_id"):
        from deepspeed.runtime.zero import register_external_parameter

        register_external_parameter(llava, weight)
    llava.forward = types.MethodType(_forward_with(choice.name, average), llava)


def _forward_with(kernel: str, average: str = "token") -> Any:
    def forward(self: Any, labels: Any = None, **kwargs: Any) -> Any:
        if labels is None:  # no loss asked for: the model's own forward, logits and all
            return type(self).forward(self, labels=None, **kwargs)
        from transformers.models.llava.modeling_llava import LlavaCausalLMOutputWithPast

        outputs = self.model(**kwargs)
        loss = supervised_loss(outputs[0], labels, self.get_output_embeddings().weight, kernel, average)
        return LlavaCausalLMOutputWithPast(loss=loss, logits=None)

    return forward
