"""Export as a standard Hugging Face LLaVA: equal to the engine's weights, LoRA merged."""
import json

import pytest
import torch

from harness_plugins.recipes.llava15.collate import collate
from harness_plugins.recipes.llava15.export import export_checkpoint, gathered_state_dict, materialize
from harness_plugins.recipes.llava15.stage import StagePlan, run_stage


def _train(tiny, tmp_path, zero, lora=None):
    # Tiny tensors are below ZeRO-3's persistence threshold; 0 makes every parameter really sharded.
    user = tmp_path / "ds.json"
    user.write_text(json.dumps({"zero_optimization": {"stage3_param_persistence_threshold": 0}}))
    plan = StagePlan(name="finetune", lr=5e-3, global_batch=8, micro_batch=4, train_llm=True, zero_stage=zero,
                     checkpoint_every=100, max_steps=2, lora=lora, deepspeed_config=str(user) if zero == 3 else None)
    return run_stage(plan, tiny.build_tiny_llava(), tiny.tiny_samples(32), tiny.PAD, tmp_path / "ft",
                     tmp_path / "m.jsonl", resume=False)


def _engine_weights(engine):
    import deepspeed

    params = dict(engine.module.named_parameters())
    with deepspeed.zero.GatheredParameters(list(params.values()), modifier_rank=None):
        return {n: p.detach().clone() for n, p in params.items()}


def test_zero3_export_equals_the_engine_weights(tiny, tmp_path):
    from transformers import LlavaForConditionalGeneration

    result = _train(tiny, tmp_path, zero=3)
    assert result.engine.module.model.language_model.layers[0].mlp.up_proj.weight.numel() == 0  # really sharded
    engine_weights = _engine_weights(result.engine)
    model = materialize(gathered_state_dict(result.engine), tiny.build_tiny_llava, None)
    out = export_checkpoint(model, tmp_path / "export", readme="# card", harness_meta={"training_hash": "x"})
    loaded = LlavaForConditionalGeneration.from_pretrained(out)
    assert (out / "model.safetensors").is_file()
    exported = dict(loaded.named_parameters())
    for name, tensor in engine_weights.items():
        assert torch.equal(exported[name], tensor), name
    assert not torch.equal(engine_weights["model.multi_modal_projector.linear_1.weight"],
                           tiny.build_tiny_llava().model.multi_modal_projector.linear_1.weight)


def test_lora_finetune_exports_merged_weights_with_the_engine_outputs(tiny, tmp_path):
    from transformers import LlavaForConditionalGeneration

    result = _train(tiny, tmp_path, zero=2, lora={"r": 4, "alpha": 8, "dropout": 0.0})
    engine = result.engine
    assert any("lora_A" in n for n, _ in engine.module.named_parameters())
    model = materialize(gathered_state_dict(engine), tiny.build_tiny_llava, {"r": 4, "alpha": 8, "dropout": 0.0})
    out = export_checkpoint(model, tmp_path / "export")
    loaded = LlavaForConditionalGeneration.from_pretrained(out).eval()
    assert not any("lora" in n for n in loaded.state_dict())
    batch = collate(tiny.tiny_samples(4), tiny.PAD)
    batch.pop("labels")  # with labels the recipe's supervised loss skips the logits
    engine.module.eval()
    with torch.no_grad():
        expected = engine.module(**batch).logits
        got = loaded(**batch).logits
        base = tiny.build_tiny_llava().eval()(**batch).logits
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, base, atol=1e-3)


def test_export_never_overwrites_an_existing_folder(tiny, tmp_path):
    (tmp_path / "export").mkdir()
    with pytest.raises(FileExistsError):
        export_checkpoint(tiny.build_tiny_llava(), tmp_path / "export")
