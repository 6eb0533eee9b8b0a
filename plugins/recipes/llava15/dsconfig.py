"""DeepSpeed configuration of one stage: batch arithmetic, generation from the typed settings,
and the merge of a user-supplied DeepSpeed JSON.

The JSON's values win; ``"auto"`` (HF Trainer's and LLaVA's ``scripts/zero*.json`` convention) takes
the generated value; unknown keys are refused, not ignored; the merged config passes DeepSpeed's
own validation. Import-light: DeepSpeed is imported only when a user JSON is checked.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, did_you_mean

AUTO = "auto"  # HF Trainer / LLaVA convention: "take the value the recipe generates"
BATCH_KEYS = ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps")
# Adam(W) options the recipe passes on (to torch's AdamW, or DeepSpeed's CPU Adam under offload).
ADAM_PARAMS = frozenset({"lr", "betas", "eps", "weight_decay", "torch_adam", "adam_w_mode"})
# Set by the recipe's own settings: a number in the file would silently fight them.
RECIPE_OWNED = {"lr": "recipe.<stage>.lr", "weight_decay": "recipe.weight_decay"}
# HF Trainer's "auto" values that depend on the model's hidden size h.
AUTO_FROM_HIDDEN = {"reduce_bucket_size": lambda h: h * h, "stage3_prefetch_bucket_size": lambda h: int(0.9 * h * h),
                    "stage3_param_persistence_threshold": lambda h: 10 * h}

# Top-level keys of a DeepSpeed config (DeepSpeed 0.19 "Config JSON" documentation). A key outside
# this list would be silently ignored by DeepSpeed, so the harness refuses it instead.
KNOWN_TOP_LEVEL = frozenset("""
train_batch_size train_micro_batch_size_per_gpu gradient_accumulation_steps optimizer scheduler
fp16 bf16 amp torch_autocast data_types gradient_clipping prescale_gradients gradient_predivide_factor
communication_data_type seq_parallel_communication_data_type gradient_allreduce_op sparse_gradients
zero_optimization zero_allow_untested_optimizer zero_force_ds_cpu_optimizer activation_checkpointing
aio flops_profiler tensorboard wandb csv_monitor comet comms_logger steps_per_print wall_clock_breakdown
memory_breakdown dump_state disable_allgather dataloader_drop_last checkpoint elasticity autotuning
compression_training data_efficiency curriculum_learning pipeline nebula hybrid_engine sparse_attention
use_node_local_storage load_universal graph_harvesting timers log_level disable_python_gc
weight_quantization compile expert_parallel monitor_config eigenvalue progressive_layer_drop
""".split())


def accumulation_steps(stage: str, global_batch: int, micro_batch: int, world_size: int) -> int:
    """Gradient accumulation so that global = micro x accumulation x world size, or a clear error."""
    _check_recipe_batch(stage, global_batch, micro_batch)
    per_step = micro_batch * world_size
    if global_batch % per_step:
        lower, upper = (global_batch // per_step) * per_step, (global_batch // per_step + 1) * per_step
        choices = f"{lower} or {upper}" if lower else f"{upper}"
        raise HarnessError(
            f"recipe.{stage}.global_batch={global_batch} is not a multiple of micro_batch x world size = "
            f"{micro_batch} x {world_size} = {per_step} (global = micro x accumulation x world size)",
            f"set recipe.{stage}.global_batch to {choices}, or pick a micro_batch that divides "
            f"{global_batch // world_size if global_batch % world_size == 0 else global_batch}",
        )
    return global_batch // per_step


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_recipe_batch(stage: str, global_batch: Any, micro_batch: Any) -> None:
    """The recipe's batch settings are positive integers."""
    for key, value in (("global_batch", global_batch), ("micro_batch", micro_batch)):
        if not _positive_int(value):
            raise HarnessError(f"recipe.{stage}.{key} must be a positive integer, got {value!r}",
                               f"set recipe.{stage}.{key}")


def resolve_batch(stage: str, global_batch: int, micro_batch: int, world_size: int,
                  user: dict[str, Any], path: Path | None) -> tuple[int, int, int]:
    """(train_batch_size, micro batch per device, accumulation) of a stage.

    The file's explicit values win (``"auto"`` or a missing key means "the recipe's"); any two of the
    three determine the third with the world size. A file value alone replaces the recipe's global
    batch (``train_batch_size``) or micro batch (``train_micro_batch_size_per_gpu``) and the
    accumulation follows; ``gradient_accumulation_steps`` alone keeps the global batch and derives
    the micro batch. Values that do not add up are a one-line error naming the file.
    """
    _check_recipe_batch(stage, global_batch, micro_batch)
    given = {key: user[key] for key in BATCH_KEYS if key in user and user[key] != AUTO}
    for key, value in given.items():
        if not _positive_int(value):
            raise HarnessError(f"{path}: {key} must be a positive integer or \"auto\", got {value!r}", "fix the file")
    if not given:
        return global_batch, micro_batch, accumulation_steps(stage, global_batch, micro_batch, world_size)
    tb, mb, ga = (given.get(key) for key in BATCH_KEYS)
    if tb is None and mb is None:
        tb = global_batch  # accumulation alone: keep the recipe's global batch, derive the micro batch
    elif tb is None and ga is None:
        tb = global_batch
    elif mb is None and ga is None:
        mb = micro_batch
    total = f"train_batch_size={tb}" if "train_batch_size" in given else f"recipe.{stage}.global_batch={tb}"
    if ga is None:
        ga = _divide(tb, mb * world_size, path, total,
                     f"train_micro_batch_size_per_gpu={mb} x world size {world_size}")
    elif mb is None:
        mb = _divide(tb, ga * world_size, path, total, f"gradient_accumulation_steps={ga} x world size {world_size}")
    elif tb is None:
        tb = mb * ga * world_size
    if tb != mb * ga * world_size:
        raise HarnessError(
            f"{path}: train_batch_size={tb} but train_micro_batch_size_per_gpu x gradient_accumulation_steps x "
            f"world size = {mb} x {ga} x {world_size} = {mb * ga * world_size}",
            "fix one of them, or set it to \"auto\" to derive it from the other two")
    return tb, mb, ga


def _divide(total: int, per: int, path: Path | None, what: str, by: str) -> int:
    """``total / per`` when it divides, else the batch error naming the file."""
    if total % per:
        raise HarnessError(f"{path}: {what} is not a multiple of {by} = {per} (global = micro x accumulation x world size)",
                           "fix the file's batch sizes or the world size (num_gpus, num_nodes)")
    return total // per


def generate(*, stage: str, global_batch: int, micro_batch: int, world_size: int, zero_stage: int,
             precision: str, offload: str, gradient_clipping: float = 1.0) -> dict[str, Any]:
    """The DeepSpeed config the recipe's settings imply for one stage."""
    if zero_stage not in (0, 1, 2, 3):
        raise HarnessError(f"ZeRO stage must be 0, 1, 2 or 3, got {zero_stage}", "set recipe.zero_stage")
    accumulation = accumulation_steps(stage, global_batch, micro_batch, world_size)
    zero: dict[str, Any] = {"stage": zero_stage, "overlap_comm": False, "contiguous_gradients": True}
    if zero_stage == 3:
        # Without this, saving under ZeRO-3 writes near-empty weights (a known LLaVA pitfall).
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    if offload in ("optimizer", "optimizer_and_params"):
        if zero_stage == 0:
            raise HarnessError("recipe.offload needs ZeRO stage 1, 2 or 3", "set recipe.zero_stage or recipe.offload=none")
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if offload == "optimizer_and_params":
        if zero_stage != 3:
            raise HarnessError("recipe.offload=optimizer_and_params needs ZeRO-3", "set recipe.zero_stage=3 or recipe.offload=optimizer")
        zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    config: dict[str, Any] = {
        "train_batch_size": global_batch,
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": accumulation,
        "gradient_clipping": gradient_clipping,
        "zero_optimization": zero,
        "bf16": {"enabled": precision == "bf16"},
        "fp16": {"enabled": precision == "fp16", "initial_scale_power": 16},
        "steps_per_print": 10**9,  # the recipe prints its own progress
        "wall_clock_breakdown": False,
    }
    if offload != "none":
        # An offloaded optimizer must be DeepSpeed's CPU Adam, which DeepSpeed builds itself.
        config["optimizer"] = {"type": "AdamW", "params": {"lr": 0.0, "weight_decay": 0.0}}
    return config


def load_user_config(user_path: str | Path) -> tuple[dict[str, Any], Path]:
    """The user's DeepSpeed JSON (an object whose keys DeepSpeed knows) and its path, or a one-line error."""
    path = Path(user_path).expanduser()
    if not path.is_file():
        raise HarnessError(f"DeepSpeed config {path} does not exist", "fix recipe.deepspeed_config")
    try:
        user = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})", "fix the file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read DeepSpeed config {path} ({exc})", "fix recipe.deepspeed_config") from None
    if not isinstance(user, dict):
        raise HarnessError(f"{path} must hold a JSON object", "fix the file")
    _check_keys(user, path)
    return user, path


def _check_keys(user: dict[str, Any], path: Path) -> None:
    """Refuse keys DeepSpeed would silently ignore (top level, and inside zero_optimization)."""
    for key in user:
        if key not in KNOWN_TOP_LEVEL:
            raise HarnessError(
                f"{path}: unknown DeepSpeed config key {key!r}{did_you_mean(key, KNOWN_TOP_LEVEL)}",
                "remove or fix it (see deepspeed.ai/docs/config-json)",
            )
    zero = user.get("zero_optimization")
    if isinstance(zero, dict):
        from deepspeed.runtime.zero.config import DeepSpeedZeroConfig

        fields = DeepSpeedZeroConfig.model_fields
        known = set(fields) | {f.alias for f in fields.values() if f.alias}
        for key in zero:
            if key not in known:
                raise HarnessError(
                    f"{path}: unknown DeepSpeed config key 'zero_optimization.{key}'{did_you_mean(key, known)}",
                    "remove or fix it (see deepspeed.ai/docs/config-json)",
                )


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _fill_auto(user: dict[str, Any], generated: dict[str, Any], hidden_size: int | None) -> dict[str, Any]:
    """The user's values with every ``"auto"`` replaced by the generated value at the same place.

    An ``"auto"`` the recipe does not generate takes HF Trainer's hidden-size rule when the hidden size
    is known (ZeRO bucket sizes), else it is dropped so DeepSpeed's own default applies.
    """
    out: dict[str, Any] = {}
    for key, value in user.items():
        if isinstance(value, dict):
            out[key] = _fill_auto(value, generated.get(key) if isinstance(generated.get(key), dict) else {}, hidden_size)
        elif value != AUTO:
            out[key] = value
        elif key in generated:
            out[key] = generated[key]
        elif key in AUTO_FROM_HIDDEN and hidden_size:
            out[key] = AUTO_FROM_HIDDEN[key](hidden_size)
    return out


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    return [value]


def _user_optimizer(section: Any, path: Path, offload: bool) -> dict[str, Any]:
    """The file's ``optimizer`` section as the recipe runs it: Adam or AdamW, known params only.

    ``lr`` and ``weight_decay`` come from the recipe (``"auto"`` or absent); ``betas``, ``eps``,
    ``adam_w_mode`` and ``torch_adam`` are honoured. Without offload, torch's AdamW is used
    (``torch_adam``), as for the recipe's own optimizer.
    """
    if not isinstance(section, dict) or not isinstance(section.get("type"), str) \
            or section["type"].lower() not in ("adam", "adamw"):
        found = section.get("type") if isinstance(section, dict) else section
        raise HarnessError(f"{path}: optimizer type {found!r} is not supported by the recipe",
                           'use {"type": "AdamW"} (or Adam), or remove the optimizer section')
    unknown = set(section) - {"type", "params"}
    params = section.get("params", {})
    if unknown or not isinstance(params, dict):
        what = f"key {min(unknown)!r}" if unknown else "params (must be an object)"
        raise HarnessError(f"{path}: optimizer {what} is not supported", 'the optimizer section takes "type" and "params"')
    for key, value in params.items():
        if key not in ADAM_PARAMS:
            raise HarnessError(f"{path}: unknown optimizer param {key!r}{did_you_mean(key, ADAM_PARAMS)}",
                               f"Adam(W) takes {', '.join(sorted(ADAM_PARAMS))}")
        if key in RECIPE_OWNED and value != AUTO:
            raise HarnessError(f"{path}: optimizer.params.{key}={value!r} would override the recipe",
                               f'set {RECIPE_OWNED[key]} instead, or write "auto"')
    kept = {k: v for k, v in params.items() if v != AUTO and k not in RECIPE_OWNED}
    if not offload:
        kept.setdefault("torch_adam", True)  # DeepSpeed's fused Adam needs a JIT CUDA build
    return {"type": section["type"], "params": {"lr": 0.0, "weight_decay": 0.0, **kept}}


def _user_scheduler(section: Any, path: Path) -> None:
    """A ``scheduler`` section is accepted only when all its params are ``"auto"`` (the recipe's schedule)."""
    params = section.get("params", {}) if isinstance(section, dict) else None
    if not isinstance(params, dict) or any(leaf != AUTO for leaf in _leaves(params)):
        raise HarnessError(f"{path}: a scheduler section would replace the recipe's learning-rate schedule",
                           'set recipe.schedule and recipe.warmup_ratio instead (or give only "auto" params)')


def _check_precision(merged: dict[str, Any], generated: dict[str, Any], path: Path, on_gpu: bool | None) -> None:
    """fp16/bf16 set by the file must agree with what recipe.precision resolves to (half precision needs a GPU)."""
    for name in ("bf16", "fp16"):
        section = merged.get(name)
        enabled = section.get("enabled") if isinstance(section, dict) else None
        if not isinstance(enabled, bool) or enabled == generated[name]["enabled"]:
            continue
        if enabled and on_gpu is False:
            raise HarnessError(f"{path}: {name}.enabled=true needs a GPU",
                               f'use "enabled": "auto" (fp32 on the CPU) or remove {name} from the file')
        if on_gpu is not None or not enabled:
            raise HarnessError(f"{path}: {name}.enabled={str(enabled).lower()} disagrees with recipe.precision",
                               'set recipe.precision (auto, bf16, fp16 or fp32) and write "enabled": "auto" in the file')


def _deepspeed_check(merged: dict[str, Any], user: dict[str, Any], path: Path) -> None:
    """DeepSpeed's own validation of the merged config (its pydantic models), as one line naming file and key.

    The world size is checked by the recipe; DeepSpeed sees micro batch and accumulation only, so it
    derives a consistent total whatever world it believes in.
    """
    import logging

    from pydantic import ValidationError

    from deepspeed.runtime.config import DeepSpeedConfig
    from deepspeed.utils import logger as ds_logger

    probe = {k: v for k, v in merged.items() if k != "train_batch_size"}
    level = ds_logger.level
    ds_logger.setLevel(logging.WARNING)
    try:
        DeepSpeedConfig(probe)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        section = _SECTIONS.get(exc.title) or next(
            (key for key, value in user.items() if isinstance(value, dict) and error["loc"] and error["loc"][0] in value), None)
        key = f"{section}.{where}" if section else where
        raise HarnessError(f"{path}: DeepSpeed rejects {key}: {error['msg']}", "fix the file (see deepspeed.ai/docs/config-json)") from None
    except (AssertionError, ValueError, TypeError, KeyError) as exc:
        raise HarnessError(f"{path}: DeepSpeed rejects the merged config: {exc}", "fix the file (see deepspeed.ai/docs/config-json)") from None
    finally:
        ds_logger.setLevel(level)


# DeepSpeed's pydantic models -> the config section they read.
_SECTIONS = {"DeepSpeedZeroConfig": "zero_optimization", "DeepSpeedBF16Config": "bf16", "DeepSpeedFP16Config": "fp16",
             "DeepSpeedZeroOffloadOptimizerConfig": "zero_optimization.offload_optimizer",
             "DeepSpeedZeroOffloadParamConfig": "zero_optimization.offload_param"}


def merge_user_config(generated: dict[str, Any], user_path: str | Path | None, *, stage: str, world_size: int,
                      on_gpu: bool | None = False, hidden_size: int | None = None) -> dict[str, Any]:
    """The generated config with the user's DeepSpeed JSON merged over it (user values win), checked.

    ``"auto"`` takes the generated value; the batch sizes follow :func:`resolve_batch`; an optimizer
    section is normalised by :func:`_user_optimizer`; the result passes DeepSpeed's own validation.
    ``on_gpu`` None (unknown, e.g. the launching node of a multi-node run) skips the device checks.
    """
    if user_path is None:
        return generated
    user, path = load_user_config(user_path)
    return _merge_loaded(generated, user, path, stage=stage, world_size=world_size, on_gpu=on_gpu,
                         hidden_size=hidden_size)


def _merge_loaded(generated: dict[str, Any], user: dict[str, Any], path: Path, *, stage: str, world_size: int,
                  on_gpu: bool | None, hidden_size: int | None) -> dict[str, Any]:
    """:func:`merge_user_config` for a file already read by :func:`load_user_config`."""
    tb, mb, ga = resolve_batch(stage, generated["train_batch_size"], generated["train_micro_batch_size_per_gpu"],
                               world_size, user, path)
    filled = _fill_auto({k: v for k, v in user.items() if k not in BATCH_KEYS and k != "scheduler"}, generated, hidden_size)
    if "scheduler" in user:
        _user_scheduler(user["scheduler"], path)
    offload = isinstance(generated.get("optimizer"), dict)
    if "optimizer" in filled:
        filled["optimizer"] = _user_optimizer(user["optimizer"], path, offload)
    merged = _merge(generated, filled)
    merged.update(train_batch_size=tb, train_micro_batch_size_per_gpu=mb, gradient_accumulation_steps=ga)
    zero = merged.get("zero_optimization")
    if isinstance(zero, dict) and zero.get("stage") == 3:
        # Without this, saving under ZeRO-3 writes near-empty weights (a known LLaVA pitfall).
        zero.setdefault("stage3_gather_16bit_weights_on_model_save", True)
    _check_precision(merged, generated, path, on_gpu)
    _deepspeed_check(merged, user, path)
    return merged


def stage_config(*, stage: str, global_batch: int, micro_batch: int, world_size: int, zero_stage: int,
                 precision: str, offload: str, user_path: str | Path | None, on_gpu: bool | None,
                 hidden_size: int | None = None) -> dict[str, Any]:
    """The DeepSpeed config a stage runs with: generated from the settings, the user's JSON merged over it.

    Batch sizes the file sets win over the recipe's (see :func:`resolve_batch`); every problem is a
    one-line HarnessError raised before any work.
    """
    if user_path is None:
        return generate(stage=stage, global_batch=global_batch, micro_batch=micro_batch, world_size=world_size,
                        zero_stage=zero_stage, precision=precision, offload=offload)
    user, path = load_user_config(user_path)  # read once: its batch sizes shape the generated config too
    global_batch, micro_batch, _ = resolve_batch(stage, global_batch, micro_batch, world_size, user, path)
    generated = generate(stage=stage, global_batch=global_batch, micro_batch=micro_batch, world_size=world_size,
                         zero_stage=zero_stage, precision=precision, offload=offload)
    return _merge_loaded(generated, user, path, stage=stage, world_size=world_size, on_gpu=on_gpu,
                         hidden_size=hidden_size)


def write(config: dict[str, Any], path: Path) -> None:
    """Write the config that ran, atomically, for the user to read."""
    from harness.runs import write_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(config, indent=2, sort_keys=True) + "\n")
