"""DeepSpeed configuration of one stage: batch arithmetic, generation from the typed settings,
and the merge of a user-supplied DeepSpeed JSON (unknown keys are refused, not ignored)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, did_you_mean

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
    for key, value in (("global_batch", global_batch), ("micro_batch", micro_batch)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise HarnessError(f"recipe.{stage}.{key} must be a positive integer, got {value!r}")
    per_step = micro_batch * world_size
    if global_batch % per_step:
        lower, upper = (global_batch // per_step) * per_step, (global_batch // per_step + 1) * per_step
        raise HarnessError(
            f"recipe.{stage}.global_batch={global_batch} is not a multiple of micro_batch x world size = "
            f"{micro_batch} x {world_size} = {per_step} (global = micro x accumulation x world size)",
            f"set recipe.{stage}.global_batch to {lower or upper} or {upper}, or pick a micro_batch that divides "
            f"{global_batch // world_size if global_batch % world_size == 0 else global_batch}",
        )
    return global_batch // per_step


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


def _check_keys(user: dict[str, Any], path: Path) -> None:
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


def merge_user_config(generated: dict[str, Any], user_path: str | Path | None, *, stage: str,
                      world_size: int) -> dict[str, Any]:
    """The generated config with the user's DeepSpeed JSON merged over it (user values win)."""
    if user_path is None:
        return generated
    path = Path(user_path).expanduser()
    if not path.is_file():
        raise HarnessError(f"DeepSpeed config {path} does not exist", "fix recipe.deepspeed_config")
    try:
        user = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})", "fix the file") from None
    if not isinstance(user, dict):
        raise HarnessError(f"{path} must hold a JSON object", "fix the file")
    _check_keys(user, path)
    merged = _merge(generated, user)
    # The user may change the batch sizes; they must still add up.
    expected = accumulation_steps(stage, merged["train_batch_size"], merged["train_micro_batch_size_per_gpu"], world_size)
    if merged.get("gradient_accumulation_steps", expected) != expected:
        raise HarnessError(
            f"{path}: gradient_accumulation_steps={merged['gradient_accumulation_steps']} but train_batch_size / "
            f"(micro x world size) = {merged['train_batch_size']} / ({merged['train_micro_batch_size_per_gpu']} x {world_size}) = {expected}",
            "drop gradient_accumulation_steps from the file and let the recipe derive it",
        )
    merged["gradient_accumulation_steps"] = expected
    return merged


def write(config: dict[str, Any], path: Path) -> None:
    """Write the config that ran, atomically, for the user to read."""
    from harness.runs import write_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(config, indent=2, sort_keys=True) + "\n")
