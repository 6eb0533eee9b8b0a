"""A stage's out-of-memory stop and its TensorBoard logs, on the tiny LLaVA under a real DeepSpeed engine."""
import json

import pytest
import torch

from harness.errors import HarnessError
from harness_plugins.recipes.llava15.stage import StagePlan, run_stage

PLAN = dict(name="finetune", lr=5e-3, global_batch=8, micro_batch=4, train_llm=True, zero_stage=2, checkpoint_every=2,
            seed=3)


def test_out_of_device_memory_in_a_step_stops_the_stage_with_one_line_naming_the_fix(tiny, tmp_path):
    """torch raises OutOfMemoryError when a device allocation fails (CUDA; the CPU has none to raise), here
    from the projector in the third step, after the stage has checkpointed once."""
    model = tiny.build_tiny_llava()
    calls = []

    def out_of_memory(module, args):
        calls.append(1)
        if len(calls) > 4:  # two micro-batches a step: the first two steps run
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    model.model.multi_modal_projector.register_forward_pre_hook(out_of_memory)
    with pytest.raises(HarnessError) as caught:
        run_stage(StagePlan(**PLAN), model, tiny.tiny_samples(32), tiny.PAD, tmp_path / "finetune",
                  tmp_path / "metrics.jsonl", resume=False)
    line = caught.value.one_line()
    assert "\n" not in line and line.startswith("out of memory in stage finetune (micro_batch 4, ZeRO-2")
    assert "lower recipe.finetune.micro_batch" in line and "recipe.gradient_checkpointing=true" in line
    assert [json.loads(r)["step"] for r in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert (tmp_path / "finetune" / "latest").read_text().strip() == "step0000002"  # resumable from there


def test_tensorboard_logs_every_step_of_the_stage_beside_metrics_jsonl(tiny, tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard logs are written when the extra is installed "
                                              "(pip install -e .[tensorboard]; the test extra has it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_stage(StagePlan(**PLAN), tiny.build_tiny_llava(), tiny.tiny_samples(32), tiny.PAD, tmp_path / "finetune",
              tmp_path / "metrics.jsonl", resume=False)
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert {"finetune/loss", "finetune/lr", "finetune/tokens_per_s"} <= set(events.Tags()["scalars"])
    logged = [(e.step, e.value) for e in events.Scalars("finetune/loss")]
    assert logged == [(r["step"], pytest.approx(r["loss"], rel=1e-6)) for r in rows] and len(logged) == 4
