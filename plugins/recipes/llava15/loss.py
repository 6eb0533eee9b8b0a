"""The training loss without the full logits: only supervised positions (labels != -100) go through
the output head, on CUDA with Triton through liger-kernel's fused linear cross-entropy, elsewhere a
chunked torch version whose peak memory is one chunk of positions x the vocabulary.

LLaMA-3's 128256-token vocabulary makes the logits the largest tensor of a training step (a micro-batch
of 16 x 2048 positions: 16 GiB in bf16, more for the softmax and its gradient); the loss and gradients
are those of transformers' ``ForCausalLMLoss`` (mean cross-entropy over supervised positions).
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


def choose_loss(fused: bool, device: str) -> LossChoice:
    """liger-kernel on CUDA when it and Triton are installed, else the chunked torch kernel; ``plain``
    (full logits, transformers' own loss) when ``recipe.fused_loss=false``. Imports nothing heavy."""
    if not fused:
        return LossChoice("plain", "recipe.fused_loss=false: full logits and transformers' cross-entropy")
    if not device.startswith("cuda"):
        return LossChoice("chunked", f"on {device}: chunked torch linear cross-entropy (liger-kernel needs CUDA)")
    missing = [m for m in ("liger_kernel", "triton") if importlib.util.find_spec(m) is None]
    if missing:
        return LossChoice("chunked", f"{' and '.join(missing)} not installed (pip install 'harness[liger]'): "
                                     "chunked torch linear cross-entropy")
    return LossChoice("liger", "CUDA with Triton: liger-kernel's fused linear cross-entropy")


def chunk_positions(vocab_size: int, budget: int = CHUNK_BYTES) -> int:
    """Positions per chunk so that one chunk's float32 logits stay within ``budget`` bytes."""
    return max(1, budget // (4 * vocab_size))


def _chunked_forward(ctx: Any, hidden: Any, weight: Any, targets: Any, chunk: int) -> Any:
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
        total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
        if not (want_hidden or want_weight):
            continue
        # d(sum of cross-entropies)/d(logits) = softmax - one_hot(target); the gradients are made now,
        # while the chunk's logits exist, so backward needs neither the logits nor the weight.
        probs = logits.sub_(lse[:, None]).exp_()
        probs[torch.arange(t.shape[0], device=t.device), t] -= 1.0
        if want_hidden:
            grad_hidden[start:start + chunk] = probs.to(hidden.dtype) @ weight
        if want_weight:
            grad_weight.addmm_(probs.t(), h.float())
    scale = 1.0 / n if n else float("nan")  # no supervised position: NaN, as transformers' mean gives
    ctx.save_for_backward(grad_hidden * scale if want_hidden else None,
                          (grad_weight * scale).to(weight.dtype) if want_weight else None)
    return total * scale


def _chunked_backward(ctx: Any, grad_output: Any) -> tuple[Any, ...]:
    grad_hidden, grad_weight = ctx.saved_tensors
    return (grad_hidden * grad_output if grad_hidden is not None else None,
            grad_weight * grad_output if grad_weight is not None else None, None, None)


@functools.cache
def _chunked_function() -> Any:
    """The autograd Function, made on first use (torch is not imported when this module is)."""
    import torch

    return type("ChunkedLinearCrossEntropy", (torch.autograd.Function,),
                {"forward": staticmethod(_chunked_forward), "backward": staticmethod(_chunked_backward)})


def chunked_linear_cross_entropy(hidden: Any, weight: Any, targets: Any, chunk: int | None = None) -> Any:
    """Mean cross-entropy of ``hidden @ weight.T`` against ``targets`` (no ignored entries), computed
    ``chunk`` positions at a time; gradients for ``hidden`` and ``weight`` as autograd would give."""
    return _chunked_function().apply(hidden, weight, targets, chunk or chunk_positions(weight.shape[0]))


def linear_cross_entropy(hidden: Any, weight: Any, targets: Any, kernel: str) -> Any:
    """The mean cross-entropy over the given positions through ``kernel`` ("liger" or "chunked")."""
    if kernel == "liger":
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        return LigerFusedLinearCrossEntropyLoss(ignore_index=IGNORE_INDEX)(weight, hidden, targets)
    return chunked_linear_cross_entropy(hidden, weight, targets)


def supervised_loss(hidden: Any, labels: Any, weight: Any, kernel: str) -> Any:
    """Causal-LM loss from the last hidden states: position i predicts label i+1, and only positions
    whose next label is supervised are gathered and sent through the head."""
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    return linear_cross_entropy(hidden[:, :-1][keep], weight, targets[keep], kernel)


def _llava(model: Any) -> Any:
    """The LlavaForConditionalGeneration inside ``model`` (a peft wrapper when LoRA is on)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def use_supervised_loss(model: Any, choice: LossChoice) -> None:
    """Make ``model(..., labels=...)`` compute its loss with ``choice`` (nothing changes for ``plain``).

    Call after ``deepspeed.initialize``: under ZeRO-3 the output head's weight is registered as an
    external parameter of the LLaVA module, so DeepSpeed gathers it for that module's forward (the head's
    own forward never runs)."""
    if choice.name == "plain":
        return
    llava = _llava(model)
    weight = llava.get_output_embeddings().weight
    if hasattr(weight, "ds_id"):
        from deepspeed.runtime.zero import register_external_parameter

        register_external_parameter(llava, weight)
    llava.forward = types.MethodType(_forward_with(choice.name), llava)


def _forward_with(kernel: str) -> Any:
    def forward(self: Any, labels: Any = None, **kwargs: Any) -> Any:
        if labels is None:  # no loss asked for: the model's own forward, logits and all
            return type(self).forward(self, labels=None, **kwargs)
        from transformers.models.llava.modeling_llava import LlavaCausalLMOutputWithPast

        outputs = self.model(**kwargs)
        loss = supervised_loss(outputs[0], labels, self.get_output_embeddings().weight, kernel)
        return LlavaCausalLMOutputWithPast(loss=loss, logits=None)

    return forward
