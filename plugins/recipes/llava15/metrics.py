"""What a stage reports: per-step metrics JSONL, a rich progress line, tokens/s and MFU."""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Dense (no sparsity) bf16 peak of known accelerators, FLOP/s, from the vendor data sheets; the first
# name found in torch.cuda.get_device_name() wins, so the specific variants come first.
# MFU = model FLOP/s / peak.
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),  # SXM ("NVIDIA H100 80GB HBM3")
    ("H200", 989e12),  # also GH200
    ("A100", 312e12),
    ("L40S", 362e12),
    ("A10", 125e12),
)


def peak_flops_of(device_name: str) -> float | None:
    """Dense bf16 peak FLOP/s of a GPU by its CUDA name, or None when unknown."""
    for key, peak in PEAK_FLOPS:
        if key in device_name:
            return peak
    return None


def device_peak_flops() -> float | None:
    """Peak bf16 FLOP/s of the current GPU, or None on the CPU or an unknown card."""
    import torch

    if not torch.cuda.is_available():
        return None
    return peak_flops_of(torch.cuda.get_device_name())


@dataclass(frozen=True)
class FlopsModel:
    """Model FLOPs of a training step, counted from what each parameter does (N = its element count).

    Per token through the LLM: ``6 N`` for a trained weight (forward 2N, input-gradient 2N,
    weight-gradient 2N) and ``4 N`` for a frozen weight that gradients still pass through (forward
    2N + input-gradient 2N: in the align stage the frozen LLM sits between the trained projector and
    the loss). The input embedding is a lookup, not a matmul, and is not counted (a tied output
    head is). Attention adds ``12 L h s`` per token (QK^T and AV: forward 4 L h s, backward twice
    that), halved for the causal mask. Per image token: the projector ``6 N`` (trained) or ``2 N``,
    the frozen vision tower ``2 N`` (forward only: nothing below it trains). The output head (counted
    in the LLM's weights) runs only at the positions that get logits: all of them with the plain loss,
    the supervised ones with the fused loss (``head_tokens``), so MFU counts no work that is skipped.
    """

    llm_trained: int  # LLM weights with requires_grad (full finetune, LoRA adapters)
    llm_frozen: int  # frozen LLM weights (the input embedding excluded)
    projector_trained: int
    projector_frozen: int
    vision_params: int  # frozen vision tower: forward only
    num_layers: int
    hidden_size: int
    image_tokens: int  # vision tokens per image
    head_trained: int = 0  # the output head's weights, also counted in llm_trained / llm_frozen
    head_frozen: int = 0

    def step_flops(self, *, tokens: int, seq_len: int, images: int, head_tokens: int | None = None) -> float:
        """FLOPs of forward + backward over ``tokens`` tokens (padded length ``seq_len``) and ``images`` images;
        ``head_tokens``: positions the output head ran at, when not all ``tokens`` (the fused loss)."""
        llm = (6.0 * self.llm_trained + 4.0 * self.llm_frozen) * tokens
        if head_tokens is not None:
            llm -= (6.0 * self.head_trained + 4.0 * self.head_frozen) * (tokens - head_tokens)
        attention = 12.0 * self.num_layers * self.hidden_size * seq_len * tokens / 2  # causal
        per_image_token = 6.0 * self.projector_trained + 2.0 * self.projector_frozen + 2.0 * self.vision_params
        return llm + attention + per_image_token * self.image_tokens * images


def flops_model_of(model: Any) -> FlopsModel:
    """Counts from a LlavaForConditionalGeneration-shaped model (peft-wrapped or not), after freezing."""
    from harness_plugins.vlm.zero3 import full_numel  # ZeRO-3 parameters: the whole size, not the shard

    embedding = model.get_input_embeddings()
    head = model.get_output_embeddings()
    lookup = embedding.weight if embedding is not None and (head is None or head.weight is not embedding.weight) else None
    counts = {"llm_trained": 0, "llm_frozen": 0, "projector_trained": 0, "projector_frozen": 0, "vision_params": 0,
              "head_trained": 0, "head_frozen": 0}
    for name, param in model.named_parameters():
        if param is lookup:
            continue
        if "vision_tower" in name:
            counts["vision_params"] += full_numel(param)
        else:
            part = "projector" if "multi_modal_projector" in name else "llm"
            counts[f"{part}_{'trained' if param.requires_grad else 'frozen'}"] += full_numel(param)
            if head is not None and param is head.weight:
                counts[f"head_{'trained' if param.requires_grad else 'frozen'}"] += full_numel(param)
    config = model.config
    text = getattr(config, "text_config", config)
    vcfg = getattr(config, "vision_config", None)
    image_tokens = (vcfg.image_size // vcfg.patch_size) ** 2 if vcfg is not None else 0
    return FlopsModel(**counts, num_layers=text.num_hidden_layers, hidden_size=text.hidden_size, image_tokens=image_tokens)


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats (NaN, inf) replaced by None, so the JSON stays standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class MetricsLog:
    """Append-only JSONL of per-step metrics (rank 0 writes; flushed each line so a kill loses nothing)."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled
        self.tensorboard = None
        if enabled:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # optional extra `harness[tensorboard]`
                from torch.utils.tensorboard import SummaryWriter

                self.tensorboard = SummaryWriter(log_dir=str(path.parent / "tensorboard"))
            except ImportError:
                pass

    def truncate_after(self, stage: str, step: int) -> None:
        """On resume: drop lines of steps after the checkpoint (they will be recomputed)."""
        if not self.enabled or not self.path.is_file():
            return
        kept = [line for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip() and not (json.loads(line)["stage"] == stage and json.loads(line)["step"] > step)]
        from harness.runs import write_atomically

        write_atomically(self.path, "".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        """Append one step's record (strict JSON: a non-finite number is written as null)."""
        record = json_safe(record)
        if self.enabled:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, allow_nan=False) + "\n")
                fh.flush()
        if self.tensorboard is not None:
            for key in ("loss", "lr", "tokens_per_s", "mfu"):
                if record.get(key) is not None:
                    self.tensorboard.add_scalar(f"{record['stage']}/{key}", record[key], record["step"])
            self.tensorboard.flush()


class Progress:
    """A rich progress bar per stage: step, loss, lr, tokens/s, ETA (rank 0 only)."""

    def __init__(self, stage: str, total: int, start: int, enabled: bool):
        self.enabled = enabled
        self.started = time.perf_counter()
        if not enabled:
            return
        from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

        from harness.cli.output import console

        self.bar = RichProgress(
            TextColumn(f"[bold]{stage}[/]"), BarColumn(), TextColumn("step {task.completed}/{task.total}"),
            TextColumn("{task.fields[info]}"), TextColumn("ETA"), TimeRemainingColumn(),
            console=console(), transient=False,
        )
        self.task = self.bar.add_task(stage, total=total, completed=start, info="")
        self.bar.start()

    def update(self, step: int, loss: float, lr: float, tokens_per_s: float) -> None:
        if self.enabled:
            info = f"loss {loss:.4f}  lr {lr:.2e}  {tokens_per_s:,.0f} tok/s"
            self.bar.update(self.task, completed=step, info=info)

    def close(self) -> None:
        if self.enabled:
            self.bar.stop()
