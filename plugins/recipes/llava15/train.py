"""The LLaVA-1.5 recipe end to end: align, then finetune, then a Hugging Face export.

With ``data.perceive`` a perceive stage runs between them (projector and LLM on that data alone, at the
finetune stage's settings: a LLaVA-OneVision-style stage 1.5); with ``recipe.init_from`` there is no align
stage and the first stage starts from that checkpoint's weights.

``train(resolved, run_dir)`` is what ``harness train`` and ``harness run`` call. It trains in
``run_dir`` (claimed for this training hash), resumes with ``resume=true`` from the last DeepSpeed
checkpoint of the unfinished stage, and returns the exported checkpoint folder.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Optional

from harness.compute import compute_provenance
from harness.errors import HarnessError
from harness_plugins.recipes.llava15 import distributed, init_from, rundir
from harness_plugins.recipes.llava15.stage import StagePlan, StageResult, run_stage
from harness_plugins.recipes.llava15.validate import resolve_precision, validate

STAGES = ("align", "perceive", "finetune")  # in training order; perceive only with data.perceive
SEED_OFFSETS = {"align": 0, "finetune": 1, "perceive": 2}  # finetune keeps the seed it had before perceive existed
TRAINED = "trainable.safetensors"  # what a stage hands the next: its trained weights, in the stage's folder
EXPORT = "model"  # the HF checkpoint folder inside the run directory
SUMMARY = "training_summary.json"


def _value(x: Any) -> Any:
    return getattr(x, "value", x)


def stage_plans(recipe: Any, seed: int, on_gpu: bool, perceive: bool = False) -> list[StagePlan]:
    """The stages from the typed recipe settings (``recipe.zero_stage`` overrides every one): align, then
    perceive when ``perceive`` (``data.perceive`` is set), then finetune; no align when ``recipe.init_from``
    names the checkpoint the next stage starts from.

    The settings are assumed valid (:func:`validate.validate` ran); only the precision is resolved here.
    The perceive stage takes the finetune stage's settings, with ``recipe.perceive_epochs`` epochs, the
    learning rate ``recipe.perceive_lr`` when set, the step cap ``recipe.perceive_max_steps``, and no
    packing; each stage's seed is the run's plus its own offset (align 0, finetune 1, perceive 2).
    """
    precision = resolve_precision(_value(recipe.precision), on_gpu)
    lora = recipe.lora
    plans = []
    for name in STAGES:
        if (name == "align" and recipe.init_from) or (name == "perceive" and not perceive):
            continue  # align's projector comes from the checkpoint; no perceive data
        key = "finetune" if name == "perceive" else name
        s = getattr(recipe, key)
        own = dict(lr=float(s.lr), epochs=s.epochs, max_steps=s.max_steps, pack=s.pack)
        if name == "perceive":  # the finetune's settings but these
            own.update(lr=float(recipe.perceive_lr or s.lr), epochs=recipe.perceive_epochs,
                       max_steps=recipe.perceive_max_steps, pack=1)
        plans.append(StagePlan(
            name=name, settings=key, global_batch=s.global_batch, micro_batch=s.micro_batch, **own,
            train_llm=name != "align", zero_stage=recipe.zero_stage if recipe.zero_stage is not None else s.zero_stage,
            warmup_ratio=recipe.warmup_ratio, schedule=recipe.schedule, weight_decay=recipe.weight_decay,
            precision=precision, offload=_value(recipe.offload), gradient_checkpointing=recipe.gradient_checkpointing,
            checkpoint_every=recipe.checkpoint_every, seed=seed + SEED_OFFSETS[name],
            deepspeed_config=recipe.deepspeed_config, fused_loss=recipe.fused_loss, loss_average=recipe.loss_average,
            group_by_modality_length=s.group_by_modality_length,
            lora={"r": lora.r, "alpha": lora.alpha, "dropout": lora.dropout} if lora.enabled and name == "finetune" else None,
        ))
    return plans


def _claim(resolved: Any, run_dir: Path, resume: bool, info: distributed.DistInfo) -> rundir.RunState:
    error, state = None, None
    if info.is_main:
        try:
            state = rundir.claim(run_dir, resolved.hashes["training"], resume)
            if not (run_dir / "config.yaml").exists():  # the run records what it trained
                import yaml

                from harness.runs import config_document, write_atomically

                write_atomically(run_dir / "config.yaml", yaml.safe_dump(config_document(resolved), sort_keys=False))
        except HarnessError as exc:
            error = exc.one_line()
    error = distributed.broadcast_error(error)
    if error:
        raise HarnessError(error)
    distributed.barrier()
    return state or rundir.RunState(resolved.hashes["training"], "running", [])


def load_stage_weights(model: Any, path: Path) -> None:
    """The weights an earlier stage trained (``<stage>/trainable.safetensors``: align's projector, perceive's
    projector and LLM) into the next stage's model, one parameter at a time (collective under ZeRO-3)."""
    from harness_plugins.recipes.llava15.export import load_safetensors
    from harness_plugins.vlm.zero3 import copy_into

    weights = load_safetensors(path)
    params = dict(model.named_parameters())
    missing = set(weights) - set(params)
    if missing:
        raise HarnessError(f"{path} does not fit this model ({sorted(missing)[:3]})", "the run directory is damaged; start a new one")
    copy_into(params, weights)


def _stage_configs(plans: list[StagePlan], parts: Any, info: distributed.DistInfo) -> dict[str, dict[str, Any]]:
    """Each stage's DeepSpeed config, made once: the stage's model is built under it (partitioned by
    ``deepspeed.zero.Init`` when it is ZeRO-3, whole otherwise) and its engine runs with it."""
    from harness_plugins.recipes.llava15.stage import stage_deepspeed_config

    on_gpu = info.device.startswith("cuda")
    return {plan.name: stage_deepspeed_config(plan, info.world_size, on_gpu, parts.hidden_size) for plan in plans}


def _partitioned_under(ds_config: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The config a stage's model is partitioned under while it is built (its own when ZeRO-3), else None."""
    from harness_plugins.vlm.zero3 import is_zero3

    return ds_config if is_zero3(ds_config) else None


def train(resolved: Any, run_dir: Path) -> Path:
    """Train the stages in ``run_dir`` and export; returns the exported Hugging Face checkpoint folder.

    A stage before the last is recorded as done once its trained weights are saved (align: the projector;
    perceive: projector and LLM); finetune only once the export is written, so a run killed during the
    export redoes just the export on resume.
    """
    from harness_plugins.recipes.llava15.parts import build_parts, perceive_records, training_records

    cfg, run_dir = resolved.config, Path(run_dir)
    # Every setting (batch arithmetic, the DeepSpeed JSON...) fails here, before any work or write.
    validate(cfg, int(os.environ.get("WORLD_SIZE", "1")))
    info = distributed.setup()
    plans = stage_plans(cfg.recipe, cfg.seed, on_gpu=info.device.startswith("cuda"), perceive=cfg.data.perceive is not None)
    rundir.check(run_dir, resolved.hashes["training"], bool(cfg.resume))  # a finished or foreign dir: before any loading
    # Everything that can fail on bad input (weights, tokenizer, data) runs before the run dir is claimed.
    parts = build_parts(cfg, info.device)
    align_records, finetune_records, data_desc = training_records(cfg)
    perceive, perceive_desc = perceive_records(cfg)
    records = {"align": align_records, "perceive": perceive, "finetune": finetune_records}
    data_desc += perceive_desc
    start = init_from.folder(cfg.recipe.init_from) if cfg.recipe.init_from else None
    if start is not None:  # the model card says where the weights began
        data_desc += f"; training started from {start} (no align stage)"
    configs = _stage_configs(plans, parts, info)
    first_model = parts.build_model(configs[plans[0].name])
    fresh = not run_dir.exists()
    state = _claim(resolved, run_dir, bool(cfg.resume), info)
    try:
        return _train_stages(resolved, run_dir, plans, configs, state, parts, records, data_desc, first_model, info,
                             start)
    except BaseException:
        # A first try that stopped before its first DeepSpeed checkpoint has nothing to resume: leave no folder.
        if fresh and info.is_main and not _has_progress(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _has_progress(run_dir: Path) -> bool:
    from harness_plugins.recipes.llava15.stage import latest_tag

    return any((run_dir / s / TRAINED).exists() or latest_tag(run_dir / s) for s in STAGES)


def _train_stages(resolved: Any, run_dir: Path, plans: list[StagePlan], configs: dict[str, dict[str, Any]],
                  state: rundir.RunState, parts: Any, records: dict[str, Any], data_desc: str, first_model: Any,
                  info: distributed.DistInfo, start: Optional[Path] = None) -> Path:
    import torch

    from harness_plugins.recipes.llava15.export import (
        export_checkpoint, gathered_state_dict, materialize, save_safetensors)
    from harness_plugins.recipes.llava15.model_card import model_card
    from harness_plugins.recipes.llava15.samples import RenderedSamples

    cfg, training_hash = resolved.config, resolved.hashes["training"]
    summaries = read_summaries(run_dir)

    result: Optional[StageResult] = None
    for i, plan in enumerate(plans):
        if plan.name in state.stages_done:
            continue
        samples = RenderedSamples(
            records[plan.name], parts.render_align if plan.name == "align" else parts.render_finetune,
            parts.processor.image_processor, cfg.recipe.max_length, parts.num_image_tokens, parts.image_token_id,
            first_exchange_only=plan.name == "align")
        rendered, extra = samples, {}
        if plan.pack > 1:
            samples, extra = packed(samples, records[plan.name], plan.pack)
        ds_config = configs[plan.name]
        if first_model is not None and _partitioned_under(ds_config) != _partitioned_under(configs[plans[0].name]):
            first_model = None  # built for the first stage, which resume skipped, and this one builds differently
        model, first_model = first_model if first_model is not None else parts.build_model(ds_config), None
        if i > 0:  # every stage after the first starts from what the one before it trained
            load_stage_weights(model, run_dir / plans[i - 1].name / TRAINED)
        elif start is not None:  # recipe.init_from
            init_from.load_into(model, start)
            extra = extra | {"init_from": str(start)}
        result = run_stage(plan, model, samples, parts.pad_id, run_dir / plan.name, run_dir / "metrics.jsonl",
                           resume=bool(cfg.resume), ds_config=ds_config)
        if result.losses or plan.name not in summaries:
            # A resume that only redoes the export trains no step: the stored summary already covers the stage.
            # truncation: over the samples this process rendered (all of them after a whole epoch)
            summaries[plan.name] = (result.summary() | {"world_size": info.world_size, "device": info.device,
                                                          "compute": compute_provenance(info.device)} | extra
                                    | {"truncation": rendered.truncation()})
        last = plan is plans[-1]
        if not last:
            weights = gathered_state_dict(result.engine, trainable_only=True)
            if info.is_main:
                save_safetensors(weights, run_dir / plan.name / TRAINED)
            result.engine.destroy()
            result = None
        if info.is_main:
            _write_summaries(run_dir, summaries)
            if not last:
                state.stages_done.append(plan.name)
                state.save(run_dir)
        distributed.barrier()

    export_dir = run_dir / EXPORT
    assert result is not None  # finetune is never recorded done before its export
    weights = gathered_state_dict(result.engine)
    if info.is_main:
        model = materialize(weights, parts.build_model, plans[-1].lora)
        readme = model_card(backbone=parts.description["backbone"], vision=parts.description["vision"], data=data_desc,
                            recipe=f"llava15 (profile {cfg.recipe.profile})", training_hash=training_hash,
                            stages=[summaries[s] for s in STAGES if s in summaries], path=export_dir.resolve(),
                            turn_end=parts.turn_end)
        meta = {"training_hash": training_hash, "hashes": resolved.hashes, "config": resolved.as_dict(),
                "summary": summaries}
        if export_dir.exists():  # a half-recorded export of this run (killed before training.json said so)
            shutil.rmtree(export_dir)
        export_checkpoint(model.to(torch.float32), export_dir, processor=parts.processor, readme=readme, harness_meta=meta,
                          stop_token_ids=parts.stop_token_ids)
        state.stages_done.append("finetune")
        state.status, state.export = "finished", str(export_dir)
        state.save(run_dir)
    distributed.barrier()
    result.engine.destroy()
    return export_dir


def packed(samples: Any, records: Any, pack: int) -> tuple[Any, dict[str, Any]]:
    """``samples`` with the exchanges of each image packed ``pack`` to a sequence (pack.py), and what the
    stage summary records of it (exchanges, sequences, sequences holding more than one exchange)."""
    from harness_plugins.recipes.llava15.pack import PackedSamples, image_groups

    out = PackedSamples(samples, image_groups(records), pack)
    return out, {"packing": {"pack": pack, "exchanges": out.exchanges(), "sequences": len(out),
                             "packed_sequences": out.packed_units()}}


def read_summaries(run_dir: Path) -> dict[str, Any]:
    """Stage name -> stored summary of the training in ``run_dir`` (empty before the first stage ends)."""
    path = run_dir / SUMMARY
    return json.loads(path.read_text())["stages"] if path.is_file() else {}


def _write_summaries(run_dir: Path, stages: dict[str, Any]) -> None:
    from harness.runs import write_atomically
    from harness_plugins.recipes.llava15.metrics import json_safe

    write_atomically(run_dir / SUMMARY, json.dumps(json_safe({"stages": stages}), indent=2, default=str, allow_nan=False) + "\n")
