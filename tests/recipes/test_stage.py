"""One stage under a real DeepSpeed engine (CPU, gloo, world size 1): ZeRO-2/3, freezing, NaN stop."""
import json

import pytest
import torch

from harness.errors import HarnessError
from harness_plugins.recipes.llava15.stage import StagePlan, cosine_with_warmup, run_stage


def _plan(**kw):
    base = dict(name="finetune", lr=5e-3, global_batch=8, micro_batch=4, train_llm=True, zero_stage=2,
                checkpoint_every=2, seed=3)
    return StagePlan(**(base | kw))


def _run(tiny, tmp_path, plan, model=None, samples=None, resume=False):
    return run_stage(plan, model or tiny.build_tiny_llava(), samples or tiny.tiny_samples(32), tiny.PAD,
                     tmp_path / plan.name, tmp_path / "metrics.jsonl", resume=resume)


def test_zero2_and_zero3_steps_give_the_same_falling_losses(tiny, tmp_path):
    two = _run(tiny, tmp_path / "z2", _plan(zero_stage=2))
    three = _run(tiny, tmp_path / "z3", _plan(zero_stage=3))
    assert two.steps == three.steps == 4
    assert two.losses == pytest.approx(three.losses, abs=1e-5)
    assert two.losses[-1] < two.losses[0] - 0.3


def test_a_zero3_stage_leaves_torch_linear_to_what_runs_next(tiny, tmp_path):
    """DeepSpeed's ZeRO-3 swaps F.linear process-wide; harness run evaluates in the same process."""
    linear = torch.nn.functional.linear
    _run(tiny, tmp_path, _plan(zero_stage=3))
    assert torch.nn.functional.linear is linear


def test_align_stage_trains_only_the_projector(tiny, tmp_path):
    model = tiny.build_tiny_llava()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _run(tiny, tmp_path, _plan(name="align", train_llm=False, lr=1e-2), model=model)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed and all("multi_modal_projector" in n for n in changed)


def test_vision_tower_stays_frozen_when_the_llm_trains(tiny, tmp_path):
    model = tiny.build_tiny_llava()
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "vision_tower" in n}
    _run(tiny, tmp_path, _plan(), model=model)
    assert all(torch.equal(p.detach(), before[n]) for n, p in model.named_parameters() if "vision_tower" in n)
    fresh = tiny.build_tiny_llava().model.language_model.layers[0].mlp.up_proj.weight
    assert not torch.equal(model.model.language_model.layers[0].mlp.up_proj.weight.detach(), fresh.detach())


def test_metrics_jsonl_has_a_line_per_step_with_the_schedule(tiny, tmp_path):
    result = _run(tiny, tmp_path, _plan(warmup_ratio=0.25))
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3, 4]
    assert [r["loss"] for r in lines] == result.losses
    factor = cosine_with_warmup(4, 0.25)
    assert [r["lr"] for r in lines] == pytest.approx([5e-3 * factor(s) for s in range(4)])
    assert all(r["tokens_per_s"] > 0 for r in lines)


def test_generated_deepspeed_config_is_written_to_the_stage_dir(tiny, tmp_path):
    _run(tiny, tmp_path, _plan(zero_stage=3))
    written = json.loads((tmp_path / "finetune" / "deepspeed_config.json").read_text())
    assert written["zero_optimization"]["stage"] == 3 and written["gradient_accumulation_steps"] == 2


def test_checkpoints_every_n_steps_and_at_the_end(tiny, tmp_path):
    _run(tiny, tmp_path, _plan(checkpoint_every=3))
    stage_dir = tmp_path / "finetune"
    assert (stage_dir / "latest").read_text().strip() == "step0000004"
    assert sorted(p.name for p in stage_dir.glob("step*")) == ["step0000003", "step0000004"]


def test_nan_loss_stops_the_stage_with_one_line(tiny, tmp_path):
    samples = tiny.tiny_samples(32)
    for sample in samples:
        sample["pixel_values"] = torch.full_like(sample["pixel_values"], float("nan"))
    with pytest.raises(HarnessError) as err:
        _run(tiny, tmp_path, _plan(), samples=samples)
    text = err.value.one_line()
    assert "loss became nan at step 1" in text and "no checkpoint of this stage yet" in text and "learning rate" in text
    assert "continues from" not in text
    assert not (tmp_path / "finetune" / "latest").exists()


def test_batch_that_does_not_divide_fails_before_any_write(tiny, tmp_path):
    with pytest.raises(HarnessError, match="not a multiple"):
        _run(tiny, tmp_path, _plan(global_batch=10, micro_batch=4))
    assert not (tmp_path / "finetune").exists() and not (tmp_path / "metrics.jsonl").exists()


def _strict_json_lines(path):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def test_stage_summary_covers_the_whole_stage_after_a_resume(tiny, tmp_path):
    full = _run(tiny, tmp_path / "full", _plan())
    _run(tiny, tmp_path / "part", _plan(stop_after_step=2))
    resumed = _run(tiny, tmp_path / "part", _plan(), resume=True)
    assert resumed.losses == pytest.approx(full.losses[2:], abs=1e-6)  # this part trained steps 3 and 4
    summary = resumed.summary()
    assert summary["steps"] == 4 and summary["tokens"] == full.tokens > 0
    assert summary["first_loss"] == pytest.approx(full.losses[0], abs=1e-6)
    assert summary["final_loss"] == pytest.approx(full.losses[-1], abs=1e-6)
    assert summary["seconds"] > 0 and summary["tokens_per_s"] == pytest.approx(full.tokens / summary["seconds"])
    assert summary["mfu"] is None and summary["model_flops"] == pytest.approx(full.model_flops)  # CPU: no peak
    # A resume of a finished stage (the export redone) trains nothing and still reports the whole stage.
    again = _run(tiny, tmp_path / "part", _plan(), resume=True)
    assert again.losses == [] and again.tokens == full.tokens and again.first_loss == summary["first_loss"]
    assert [r["step"] for r in _strict_json_lines(tmp_path / "part" / "metrics.jsonl")] == [1, 2, 3, 4]


def test_metrics_jsonl_is_strict_json_without_mfu_on_the_cpu(tiny, tmp_path):
    _run(tiny, tmp_path, _plan())
    rows = _strict_json_lines(tmp_path / "metrics.jsonl")
    assert len(rows) == 4 and all("mfu" not in r for r in rows)


def test_user_optimizer_section_without_params_trains_like_the_recipe(tiny, tmp_path):
    user = tmp_path / "ds.json"
    user.write_text(json.dumps({"optimizer": {"type": "AdamW"}}))
    ours = _run(tiny, tmp_path / "ours", _plan())
    theirs = _run(tiny, tmp_path / "theirs", _plan(deepspeed_config=str(user)))
    written = json.loads((tmp_path / "theirs" / "finetune" / "deepspeed_config.json").read_text())
    assert written["optimizer"] == {"type": "AdamW", "params": {"lr": 5e-3, "weight_decay": 0.0, "torch_adam": True}}
    assert theirs.losses == pytest.approx(ours.losses, abs=1e-6)


def test_llava_zero3_json_runs_with_the_generated_values(tiny, tmp_path):
    import llava_json

    user = tmp_path / "zero3.json"
    user.write_text(json.dumps(llava_json.ZERO3))
    result = _run(tiny, tmp_path, _plan(zero_stage=2, deepspeed_config=str(user)))
    written = json.loads((tmp_path / "finetune" / "deepspeed_config.json").read_text())
    assert written["zero_optimization"]["stage"] == 3 and written["zero_optimization"]["reduce_bucket_size"] == 32 * 32
    assert (written["train_batch_size"], written["train_micro_batch_size_per_gpu"], written["gradient_accumulation_steps"]) == (8, 4, 2)
    assert written["bf16"] == {"enabled": False} and written["fp16"]["enabled"] is False
    assert result.steps == 4 and result.losses[-1] < result.losses[0]
