"""Every setting of the LLaVA-1.5 recipe checked before any work: ``validate(config, world_size)``.

Registered as the recipe's ``validate`` hook, so ``harness run`` (and ``--dry-run``) and ``harness
train`` refuse a bad setting in one line before anything is written; ``train()`` calls it again in
every process. Import-light and fast: torch is imported only to ask whether a GPU is present when
half precision is asked for, DeepSpeed only to check a user DeepSpeed JSON; no model is loaded.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from harness.errors import HarnessError

from harness_plugins.recipes.llava15.stage import SCHEDULES  # light: torch and DeepSpeed load lazily
from harness_plugins.recipes.llava15.loss import AVERAGES  # light: torch loads lazily

STAGES = ("align", "finetune")
MAX_PACK = 64  # exchanges per packed sequence: the 4-D mask grows with the square of its length


def _value(x: Any) -> Any:
    return getattr(x, "value", x)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require(ok: bool, key: str, value: Any, rule: str) -> None:
    """One line naming the key, its value and the rule, when ``ok`` is false."""
    if not ok:
        raise HarnessError(f"{key}={value!r} is invalid: it must be {rule}", f"set {key}")


def gpu_available() -> bool:
    """Whether this process sees a CUDA GPU (imports torch: call only when the answer matters)."""
    import torch

    return torch.cuda.is_available()


def _check_stage(recipe: Any, name: str) -> None:
    stage = getattr(recipe, name)
    key = f"recipe.{name}"
    _require(_is_number(stage.lr) and stage.lr > 0, f"{key}.lr", stage.lr, "a finite positive number")
    _require(_is_int(stage.global_batch) and stage.global_batch >= 1, f"{key}.global_batch", stage.global_batch,
             "a positive integer")
    _require(_is_int(stage.micro_batch) and stage.micro_batch >= 1, f"{key}.micro_batch", stage.micro_batch,
             "a positive integer")
    _require(_is_number(stage.epochs) and stage.epochs > 0, f"{key}.epochs", stage.epochs, "a finite positive number")
    _require(stage.max_steps is None or (_is_int(stage.max_steps) and stage.max_steps >= 1), f"{key}.max_steps",
             stage.max_steps, "a positive integer or null")
    _require(_is_int(stage.zero_stage) and stage.zero_stage in (0, 1, 2, 3), f"{key}.zero_stage", stage.zero_stage,
             "0, 1, 2 or 3")
    _require(_is_int(stage.pack) and 1 <= stage.pack <= MAX_PACK, f"{key}.pack", stage.pack,
             f"an integer from 1 (no packing) to {MAX_PACK} (exchanges of one image per sequence)")


def _check_recipe(recipe: Any) -> None:
    """The scalar settings: learning rates, batches, schedule, lengths, checkpoints, LoRA."""
    for name in STAGES:
        _check_stage(recipe, name)
    _require(recipe.schedule in SCHEDULES, "recipe.schedule", recipe.schedule, "one of " + ", ".join(SCHEDULES))
    _require(_is_number(recipe.warmup_ratio) and 0 <= recipe.warmup_ratio < 1, "recipe.warmup_ratio",
             recipe.warmup_ratio, "a number in [0, 1)")
    _require(_is_number(recipe.weight_decay) and recipe.weight_decay >= 0, "recipe.weight_decay", recipe.weight_decay,
             "a finite number >= 0")
    _require(_is_int(recipe.max_length) and recipe.max_length >= 1, "recipe.max_length", recipe.max_length,
             "a positive integer")
    _require(recipe.loss_average in AVERAGES, "recipe.loss_average", recipe.loss_average,
             "token (every supervised token once, LLaVA-1.5's) or exchange (every answer once)")
    _require(_is_number(recipe.perceive_epochs) and recipe.perceive_epochs > 0, "recipe.perceive_epochs",
             recipe.perceive_epochs, "a finite positive number")
    _require(recipe.perceive_lr is None or (_is_number(recipe.perceive_lr) and recipe.perceive_lr > 0),
             "recipe.perceive_lr", recipe.perceive_lr, "a finite positive number or null (the finetune's)")
    cap = recipe.perceive_max_steps
    _require(cap is None or (_is_int(cap) and cap >= 1), "recipe.perceive_max_steps", cap,
             "a positive integer or null (no cap)")
    _require(_is_int(recipe.checkpoint_every) and recipe.checkpoint_every >= 1, "recipe.checkpoint_every",
             recipe.checkpoint_every, "a positive integer (optimizer steps between checkpoints)")
    _require(recipe.zero_stage is None or (_is_int(recipe.zero_stage) and recipe.zero_stage in (0, 1, 2, 3)),
             "recipe.zero_stage", recipe.zero_stage, "0, 1, 2, 3 or null")
    lora = recipe.lora
    if lora.enabled:
        _require(_is_int(lora.r) and lora.r >= 1, "recipe.lora.r", lora.r, "a positive integer when LoRA is enabled")
        _require(_is_number(lora.alpha) and lora.alpha > 0, "recipe.lora.alpha", lora.alpha, "a positive number")
        _require(_is_number(lora.dropout) and 0 <= lora.dropout < 1, "recipe.lora.dropout", lora.dropout,
                 "a number in [0, 1)")


def _check_perceive_types(data: Any) -> None:
    """``data.perceive_types``: scene-world question types, and set only for ``data.perceive=scene``."""
    from harness.config.schema import PERCEIVE_TYPES_DEFAULT
    from harness_plugins.scene.language import INSTRUCT_ONLY_TYPES, VQA_TYPES

    types, known = list(data.perceive_types), VQA_TYPES + INSTRUCT_ONLY_TYPES
    _require(bool(types) and set(types) <= set(known), "data.perceive_types", ",".join(types),
             "a list of the scene world's question types: " + ", ".join(known))
    if tuple(types) != PERCEIVE_TYPES_DEFAULT and data.perceive != "scene":
        raise HarnessError(f"data.perceive_types={','.join(types)} picks questions of the scene world, and "
                           f"data.perceive is {data.perceive or 'unset (no perceive stage)'}",
                           "set data.perceive=scene, or drop data.perceive_types (a file's stage trains all its exchanges)")


def resolve_precision(precision: str, on_gpu: Optional[bool]) -> str:
    """``recipe.precision`` for this device: auto is bf16 on GPUs and fp32 on the CPU; half needs a GPU.

    ``on_gpu`` None (the processes run on other machines) assumes GPUs and skips the device check.
    """
    if precision == "auto":
        return "fp32" if on_gpu is False else "bf16"
    if precision in ("bf16", "fp16") and on_gpu is False:
        raise HarnessError(f"recipe.precision={precision} needs a GPU", "use recipe.precision=auto or fp32 on the CPU")
    return precision


def _on_gpu(config: Any, recipe: Any) -> Optional[bool]:
    """Whether training runs on GPUs, asked only when it changes the answer (it imports torch)."""
    if getattr(config, "hostfile", None):
        return None  # the launching node need not have the training nodes' GPUs
    if _value(recipe.precision) in ("bf16", "fp16") or recipe.deepspeed_config is not None:
        return gpu_available()
    return None  # nothing below depends on the device


def validate(config: Any, world_size: int) -> None:
    """Raise a one-line HarnessError for any setting that cannot train with ``world_size`` processes.

    ``config`` is the resolved run config (``resolved.config``); checks the scalar settings, the
    precision against the device, and per stage the batch arithmetic (global = micro x accumulation x
    world size), the offload / ZeRO combination, the merged user DeepSpeed JSON, and that
    ``recipe.init_from`` is a checkpoint of the same backbone and vision.
    """
    from harness_plugins.recipes.llava15 import dsconfig

    if not _is_int(world_size) or world_size < 1:
        raise HarnessError(f"world size must be a positive integer, got {world_size!r}", "check num_gpus and num_nodes")
    recipe = config.recipe
    _check_recipe(recipe)
    _check_perceive_types(config.data)
    if recipe.init_from:
        from harness_plugins.recipes.llava15 import init_from

        init_from.check(config)
    on_gpu = _on_gpu(config, recipe)
    precision = resolve_precision(_value(recipe.precision), on_gpu)
    for name in STAGES:
        stage = getattr(recipe, name)
        dsconfig.stage_config(stage=name, global_batch=stage.global_batch, micro_batch=stage.micro_batch,
                              world_size=world_size,
                              zero_stage=recipe.zero_stage if recipe.zero_stage is not None else stage.zero_stage,
                              precision=precision, offload=_value(recipe.offload), user_path=recipe.deepspeed_config,
                              on_gpu=on_gpu)
