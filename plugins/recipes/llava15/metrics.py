"""What a stage reports: per-step metrics JSONL, a rich progress line, tokens/s and MFU."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Dense bf16 peak of known accelerators, FLOP/s (vendor data sheets); MFU = model FLOP/s / peak.
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def device_peak_flops() -> float | None:
    """Peak bf16 FLOP/s of the current GPU, or None on the CPU or an unknown card."""
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    for key, peak in PEAK_FLOPS.items():
        if key in name:
            return peak
    return None


@dataclass(frozen=True)
class FlopsModel:
    """Training FLOPs per token: 6 x (LLM + projector) params + attention, plus the frozen tower's forward."""

    trained_path_params: int  # parameters of the LLM and projector (forward + backward)
    vision_params: int  # frozen vision tower: forward only
    num_layers: int
    hidden_size: int
    image_tokens: int  # vision tokens per image

    def step_flops(self, tokens: int, sequences: int, seq_len: int, images: int) -> float:
        dense = 6.0 * self.trained_path_params * tokens
        attention = 12.0 * self.num_layers * self.hidden_size * seq_len * tokens / 2  # causal
        vision = 2.0 * self.vision_params * self.image_tokens * images
        return dense + attention + vision


def flops_model_of(model: Any) -> FlopsModel:
    """Counts from a LlavaForConditionalGeneration-shaped model (peft-wrapped or not)."""
    vision = language = 0
    for name, param in model.named_parameters():
        n = param.ds_numel if hasattr(param, "ds_numel") else param.numel()
        if "vision_tower" in name:
            vision += n
        else:
            language += n
    config = model.config
    text = getattr(config, "text_config", config)
    vcfg = getattr(config, "vision_config", None)
    image_tokens = (vcfg.image_size // vcfg.patch_size) ** 2 if vcfg is not None else 0
    return FlopsModel(language, vision, text.num_hidden_layers, text.hidden_size, image_tokens)


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
        if self.enabled:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
                fh.flush()
        if self.tensorboard is not None:
            for key in ("loss", "lr", "tokens_per_s"):
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
