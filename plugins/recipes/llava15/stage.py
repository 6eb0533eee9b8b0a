"""One training stage under a real DeepSpeed engine: trainable parameters, optimizer and cosine
schedule, deterministic data order, checkpoints and resume, NaN stop, metrics.

Works on any ``LlavaForConditionalGeneration``-shaped model and a list of tokenized samples, so the
engine is testable without the rest of the harness.
"""
from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from harness.errors import HarnessError
from harness_plugins.recipes.llava15 import distributed, dsconfig
from harness_plugins.recipes.llava15.collate import IGNORE_INDEX, collate, supervised_tokens
from harness_plugins.recipes.llava15.loss import choose_loss, use_supervised_loss
from harness_plugins.recipes.llava15.metrics import MetricsLog, Progress, device_peak_flops, flops_model_of
from harness_plugins.recipes.llava15.order import StageOrder
from harness_plugins.recipes.llava15.samples import modality_lengths

PROJECTOR = "multi_modal_projector"
LANGUAGE = ("language_model", "lm_head")
VISION = "vision_tower"
KEEP_CHECKPOINTS = 2


@dataclass
class StagePlan:
    """Everything one stage needs, resolved from the recipe settings."""

    name: str  # "align", "perceive" or "finetune"
    lr: float
    global_batch: int
    micro_batch: int
    train_llm: bool
    zero_stage: int
    epochs: float = 1.0
    max_steps: Optional[int] = None
    warmup_ratio: float = 0.03
    schedule: str = "cosine"
    weight_decay: float = 0.0
    precision: str = "fp32"  # fp32 | bf16 | fp16 (already resolved from "auto")
    offload: str = "none"
    gradient_checkpointing: bool = False
    checkpoint_every: int = 500
    seed: int = 0
    deepspeed_config: Optional[str] = None  # user JSON merged over the generated one
    lora: Optional[dict[str, Any]] = None  # {"r", "alpha", "dropout"} when LoRA is on
    fused_loss: bool = True  # logits only at supervised positions, never all at once (loss.py)
    loss_average: str = "token"  # "token" | "exchange": what the loss's mean is over (loss.py)
    group_by_modality_length: bool = False  # LLaVA's length-grouped sampler (order.py)
    pack: int = 1  # single-exchange samples of one image per sequence (pack.py); the caller packs them
    stop_after_step: Optional[int] = None  # for tests and debugging: leave after this step
    settings: str = ""  # the recipe.<section> its settings come from, when not its name (perceive: finetune)

    @property
    def key(self) -> str:
        """``recipe.<key>.*`` holds this stage's settings: what an error message tells the user to change."""
        return self.settings or self.name


@dataclass
class StageResult:
    """What a stage did. ``losses`` are this process's steps; the totals cover the whole stage, across resumes."""

    name: str
    steps: int
    losses: list[float]
    tokens: int
    seconds: float
    tokens_per_s: float
    model_tflops_per_s: Optional[float]
    mfu: Optional[float]
    first_loss: Optional[float] = None
    final_loss: Optional[float] = None
    model_flops: float = 0.0
    engine: Any = field(default=None, repr=False)
    loss_kernel: Optional[str] = None  # which loss computed it, and why (loss.choose_loss)

    def summary(self) -> dict[str, Any]:
        """The stored stage summary (JSON-ready)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("engine", "losses")}


@dataclass
class StageTotals:
    """Running totals of a stage, saved in every checkpoint so a resumed stage reports the whole stage."""

    tokens: int = 0
    seconds: float = 0.0
    flops: float = 0.0
    first_loss: Optional[float] = None
    final_loss: Optional[float] = None

    def add(self, tokens: int, flops: float, loss: float) -> None:
        self.tokens += tokens
        self.flops += flops
        self.first_loss = loss if self.first_loss is None else self.first_loss
        self.final_loss = loss

    def result(self, plan: "StagePlan", steps: int, losses: list[float], world_size: int, peak: Optional[float],
               engine: Any) -> StageResult:
        """The stage's result: tokens/s, and model TFLOP/s and MFU when the device's peak is known."""
        seconds = self.seconds
        tflops = self.flops / seconds / 1e12 if seconds > 0 and peak else None
        mfu = self.flops / seconds / world_size / peak if seconds > 0 and peak else None
        return StageResult(plan.name, steps, losses, self.tokens, seconds, self.tokens / seconds if seconds > 0 else 0.0,
                           tflops, mfu, self.first_loss, self.final_loss, self.flops, engine)


SCHEDULES = ("cosine", "linear", "constant")


def cosine_with_warmup(total_steps: int, warmup_ratio: float, schedule: str = "cosine"):
    """LLaVA's schedule (HF get_cosine_schedule_with_warmup): linear warmup, then cosine decay to 0
    (or linear decay, or constant)."""
    if schedule not in SCHEDULES:
        raise HarnessError(f"unknown recipe.schedule {schedule!r}", f"use one of {', '.join(SCHEDULES)}")
    warmup = math.ceil(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total_steps - warmup)
        if schedule == "constant":
            return 1.0
        if schedule == "linear":
            return max(0.0, 1.0 - progress)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    return factor


def set_trainable(model: Any, train_llm: bool, lora: Optional[dict[str, Any]]) -> Any:
    """Projector always trains, the vision tower never; the LLM in full or through LoRA adapters."""
    if lora:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"], bias="none",
                            target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)")
        model = get_peft_model(model, config)
    for name, param in model.named_parameters():
        if VISION in name:
            param.requires_grad = False
        elif PROJECTOR in name:
            param.requires_grad = True
        elif lora:
            param.requires_grad = "lora_" in name
        else:
            param.requires_grad = train_llm and any(part in name for part in LANGUAGE)
    return model


def _rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def latest_tag(stage_dir: Path) -> Optional[str]:
    """The tag of the last complete DeepSpeed checkpoint of a stage (DeepSpeed's ``latest`` file)."""
    latest = stage_dir / "latest"
    return latest.read_text().strip() if latest.is_file() else None


def _save_checkpoint(engine: Any, stage_dir: Path, step: int, info: distributed.DistInfo,
                     totals: StageTotals) -> None:
    import torch

    tag = f"step{step:07d}"
    (stage_dir / tag).mkdir(parents=True, exist_ok=True)
    # RNG first: DeepSpeed writes `latest` last, so a checkpoint `latest` names is complete.
    torch.save(_rng_state(), stage_dir / tag / f"rng_rank{info.rank}.pt")
    distributed.barrier()
    engine.save_checkpoint(str(stage_dir), tag=tag, client_state={"step": step, "totals": asdict(totals)}, exclude_frozen_parameters=True)
    distributed.barrier()
    if info.is_main:
        tags = sorted(p.name for p in stage_dir.glob("step*") if p.is_dir())
        for old in tags[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(stage_dir / old, ignore_errors=True)


def _to_device(batch: dict[str, Any], device: str, dtype: Any) -> dict[str, Any]:
    """The batch on the device, images in the compute dtype, a packed batch's boolean block mask
    additive in that dtype (what eager, SDPA and the xformers adapter all take)."""
    from harness_plugins.recipes.llava15.pack import additive_mask

    out = {k: v.to(device) for k, v in batch.items()}
    if "pixel_values" in out:
        out["pixel_values"] = out["pixel_values"].to(dtype)
    if out["attention_mask"].dim() == 4:
        out["attention_mask"] = additive_mask(out["attention_mask"], dtype)
    return out


def _oom_error(plan: StagePlan) -> HarnessError:
    return HarnessError(
        f"out of memory in stage {plan.name} (micro_batch {plan.micro_batch}, ZeRO-{plan.zero_stage}, "
        f"gradient_checkpointing {plan.gradient_checkpointing}, offload {plan.offload})",
        f"lower recipe.{plan.key}.micro_batch (global_batch stays, accumulation grows), or set "
        "recipe.gradient_checkpointing=true, recipe.max_length lower, recipe.zero_stage=3 or recipe.offload=optimizer",
    )


def _nan_error(plan: StagePlan, loss: float, step: int, last_good: Optional[Path]) -> HarnessError:
    """The one-line stop on a non-finite loss, naming the last good checkpoint (or that there is none)."""
    where = (f"last good checkpoint: {last_good}; after fixing the cause, resume=true continues from it" if last_good
             else "no checkpoint of this stage yet, so a rerun starts the stage from step 0")
    return HarnessError(
        f"stage {plan.name}: loss became {loss} at step {step}; {where}",
        f"likely causes: learning rate too high (recipe.{plan.key}.lr={plan.lr}) or fp16 overflow "
        "(use recipe.precision=bf16 or fp32)",
    )


def stage_deepspeed_config(plan: StagePlan, world_size: int, on_gpu: bool, hidden_size: Optional[int]) -> dict[str, Any]:
    """The DeepSpeed config a stage runs with (generated, the user's JSON merged over it, the recipe's lr)."""
    ds_config = dsconfig.stage_config(stage=plan.key, global_batch=plan.global_batch, micro_batch=plan.micro_batch,
                                      world_size=world_size, zero_stage=plan.zero_stage, precision=plan.precision,
                                      offload=plan.offload, user_path=plan.deepspeed_config, on_gpu=on_gpu,
                                      hidden_size=hidden_size)
    if "optimizer" in ds_config:  # DeepSpeed builds it (offload, or the user's JSON): the recipe's lr and decay
        ds_config["optimizer"]["params"].update(lr=plan.lr, weight_decay=plan.weight_decay)
    return ds_config


def _check_partitioning(plan: StagePlan, model: Any, ds_config: dict[str, Any]) -> None:
    """A model built partitioned (``zero.Init``) can only train under ZeRO-3 (a caller's bug otherwise)."""
    from harness_plugins.vlm.zero3 import is_partitioned, is_zero3

    if not is_zero3(ds_config) and any(is_partitioned(p) for p in model.parameters()):
        raise RuntimeError(f"stage {plan.name}: the model was built partitioned for ZeRO-3 but the stage's DeepSpeed "
                           f"config is ZeRO-{ds_config['zero_optimization']['stage']}; build it under the stage's own config")


def run_stage(plan: StagePlan, model: Any, samples: Sequence[dict[str, Any]], pad_id: int, stage_dir: Path,
              metrics_path: Path, resume: bool, ds_config: Optional[dict[str, Any]] = None) -> StageResult:
    """Train one stage; returns its result with the live engine (for export), or raises HarnessError.

    ``ds_config``: the stage's DeepSpeed config when the caller already made it (:func:`stage_deepspeed_config`,
    e.g. to build the model under it); made here otherwise. torch's linear is torch's again on return
    (a ZeRO-3 engine swaps in DeepSpeed's for the process)."""
    from harness_plugins.vlm.zero3 import torch_linear_kept

    with torch_linear_kept():
        return _run_stage(plan, model, samples, pad_id, stage_dir, metrics_path, resume, ds_config)


def _run_stage(plan: StagePlan, model: Any, samples: Sequence[dict[str, Any]], pad_id: int, stage_dir: Path,
               metrics_path: Path, resume: bool, ds_config: Optional[dict[str, Any]]) -> StageResult:
    import deepspeed
    import numpy as np
    import torch

    info = distributed.setup()
    if not samples:
        raise HarnessError(f"stage {plan.name} has no training samples", "check data.train")
    lengths = modality_lengths(samples) if plan.group_by_modality_length else None
    order = StageOrder(len(samples), plan.global_batch, plan.micro_batch, info.world_size, plan.seed,
                       plan.epochs, plan.max_steps, lengths)
    if ds_config is None:
        text_config = getattr(model.config, "text_config", model.config)
        ds_config = stage_deepspeed_config(plan, info.world_size, info.device.startswith("cuda"),
                                           getattr(text_config, "hidden_size", None))
    _check_partitioning(plan, model, ds_config)
    if ds_config["train_batch_size"] != plan.global_batch or ds_config["train_micro_batch_size_per_gpu"] != plan.micro_batch:
        order = StageOrder(len(samples), ds_config["train_batch_size"], ds_config["train_micro_batch_size_per_gpu"],
                           info.world_size, plan.seed, plan.epochs, plan.max_steps, lengths)
    if info.is_main:
        dsconfig.write(ds_config, stage_dir / "deepspeed_config.json")

    torch.manual_seed(plan.seed)
    random.seed(plan.seed)
    np.random.seed(plan.seed % 2**32)
    model = set_trainable(model, plan.train_llm, plan.lora)
    if plan.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    trainable = [p for p in model.parameters() if p.requires_grad]
    factor = cosine_with_warmup(order.total_steps, plan.warmup_ratio, plan.schedule)
    optimizer = None
    if "optimizer" not in ds_config:
        # torch's AdamW: DeepSpeed's fused Adam needs a JIT CUDA build (fails on TORCH_CUDA_ARCH_LIST=9.0a).
        optimizer = torch.optim.AdamW(trainable, lr=plan.lr, weight_decay=plan.weight_decay,
                                      fused=torch.cuda.is_available() and plan.precision != "fp16")
    scheduler = (lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, factor))
    try:
        engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, model_parameters=trainable,
                                               lr_scheduler=scheduler, config=ds_config)
    except torch.OutOfMemoryError:
        raise _oom_error(plan) from None
    loss_choice = choose_loss(plan.fused_loss, info.device, plan.loss_average)
    use_supervised_loss(engine.module, loss_choice, plan.loss_average)
    flops = flops_model_of(engine.module)
    peak = device_peak_flops()

    start_step, totals = 0, StageTotals()
    tag = latest_tag(stage_dir) if resume else None
    if tag is not None:
        _, client = engine.load_checkpoint(str(stage_dir), tag=tag, load_module_strict=False)
        start_step = int(client["step"])
        totals = StageTotals(**client.get("totals", {}))
        _set_rng_state(torch.load(stage_dir / tag / f"rng_rank{info.rank}.pt", weights_only=False))
    metrics = MetricsLog(metrics_path, info.is_main)
    metrics.truncate_after(plan.name, start_step)

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(plan.precision, torch.float32)
    progress = Progress(plan.name, order.total_steps, start_step, info.is_main)
    losses: list[float] = []
    started, seconds_before = time.perf_counter(), totals.seconds
    last_good = tag
    try:
        for step in range(start_step, order.total_steps):
            t0 = time.perf_counter()
            step_loss, step_tokens, step_flops = 0.0, 0, 0.0
            lr = engine.get_lr()[0]  # the rate this step uses (the scheduler advances in engine.step)
            for indices in order.micro_batches(step, info.rank):
                batch = collate([samples[i] for i in indices], pad_id)
                tokens = supervised_tokens(batch)
                batch = _to_device(batch, info.device, dtype)
                out = engine(**batch)
                engine.backward(out.loss)
                engine.step()
                step_loss += float(out.loss.detach()) / order.accumulation
                step_tokens += tokens
                images = batch["pixel_values"].shape[0] if "pixel_values" in batch else 0
                head_tokens = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum()) if loss_choice.name != "plain" else None
                step_flops += flops.step_flops(tokens=tokens, seq_len=batch["input_ids"].shape[1], images=images,
                                               head_tokens=head_tokens)
            loss = distributed.mean_across_ranks(step_loss)
            step_tokens = distributed.sum_across_ranks(step_tokens)
            done = step + 1
            if not math.isfinite(loss):
                raise _nan_error(plan, loss, done, stage_dir / last_good if last_good else None)
            seconds = time.perf_counter() - t0
            tps = step_tokens / seconds if seconds > 0 else 0.0
            # model FLOPs of the whole world: each rank counted its own share
            world_flops = distributed.mean_across_ranks(step_flops) * info.world_size
            totals.add(step_tokens, world_flops, loss)
            losses.append(loss)
            record = {"stage": plan.name, "step": done, "loss": loss, "lr": lr, "tokens": step_tokens,
                      "tokens_per_s": tps, "seconds": seconds}
            if peak and seconds > 0:  # GPUs only: the CPU has no meaningful peak
                record["mfu"] = world_flops / seconds / info.world_size / peak
            metrics.write(record)
            progress.update(done, loss, lr, tps)
            if done % plan.checkpoint_every == 0 or done == order.total_steps:
                totals.seconds = seconds_before + (time.perf_counter() - started)
                _save_checkpoint(engine, stage_dir, done, info, totals)
                last_good = latest_tag(stage_dir)
            if plan.stop_after_step is not None and done >= plan.stop_after_step:
                break
    except torch.OutOfMemoryError:
        raise _oom_error(plan) from None
    finally:
        progress.close()
    totals.seconds = seconds_before + (time.perf_counter() - started)
    # On the CPU there is no meaningful peak: tokens/s only.
    result = totals.result(plan, start_step + len(losses), losses, info.world_size, peak, engine)
    result.loss_kernel = f"{loss_choice.name}: {loss_choice.reason}"
    return result

