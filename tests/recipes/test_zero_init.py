"""ZeRO-3 stages build their model partitioned (``deepspeed.zero.Init``): each rank holds only its
shard from construction on, and training, stage-1 weights, LoRA, export and resume are unchanged.

Every run composes the llama3 + CLIP organisms through the plugins (run_organism_stage.py), once
"whole" (the old way: DeepSpeed shards the full model when the engine starts) and once "zero_init".
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
RUNNER = Path(__file__).with_name("run_organism_stage.py")
TORCHRUN = str(Path(sys.executable).parent / "torchrun")


def _env():
    return os.environ | {"OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu", "PYTHONWARNINGS": "ignore"}


def _run(run_dir: Path, mode: str, *flags: str, processes: int = 2) -> Path:
    launcher = [TORCHRUN, "--standalone", "--nproc_per_node", str(processes)] if processes > 1 else [sys.executable]
    done = subprocess.run([*launcher, str(RUNNER), str(run_dir), mode, *flags], env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir


def _losses(run_dir: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())}


def _same_curve(a: Path, b: Path) -> None:
    first, second = _losses(a), _losses(b)
    assert list(first) == list(second) == [1, 2, 3, 4]
    assert list(second.values()) == pytest.approx(list(first.values()), rel=1e-5)
    assert first[4] < first[1] - 1.0  # it learns


@pytest.fixture(scope="module")
def align_weights(tmp_path_factory) -> Path:
    """Stage-1 projector weights unlike the fresh projector (so loading them shows in the losses)."""
    from run_organism_stage import compose

    from harness_plugins.recipes.llava15.export import save_safetensors

    model, _ = compose()
    path = tmp_path_factory.mktemp("align") / "trainable.safetensors"
    save_safetensors({n: p.detach() * 1.5 + 0.01 for n, p in model.named_parameters() if "multi_modal_projector" in n},
                     path)
    return path


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, align_weights):
    """The same 2-process ZeRO-3 stage (stage-1 weights, gradient checkpointing, export) built both ways."""
    root = tmp_path_factory.mktemp("two")
    flags = ["--align", str(align_weights), "--gradient-checkpointing", "--probe", "--export"]
    return _run(root / "whole", "whole", *flags), _run(root / "zero_init", "zero_init", *flags)


def test_zero_init_stage_follows_the_whole_model_loss_curve_in_two_processes(two_processes):
    _same_curve(*two_processes)


def test_each_rank_holds_only_its_shard_from_construction_on(two_processes):
    whole, zero_init = two_processes
    for rank in (0, 1):
        built = json.loads((zero_init / f"probe_rank{rank}.json").read_text())
        # Every parameter is an empty placeholder; the rank's shards add up to half the model.
        assert built["nonempty"] == 0 and built["count"] > 100
        assert built["full"] / 2 <= built["local"] <= built["full"] / 2 + built["count"]
        # from_pretrained itself loads partitioned (the tower alone: nothing composed after it).
        assert built["tower_full"] / 2 <= built["tower_local"] <= built["tower_full"] / 2 + 100
        old = json.loads((whole / f"probe_rank{rank}.json").read_text())
        assert old["local"] == old["full"] == built["full"] and old["nonempty"] == old["count"]


def test_export_after_a_zero_init_stage_equals_the_engine_weights(two_processes):
    for run_dir in two_processes:
        export = json.loads((run_dir / "export.json").read_text())
        assert export["mismatch"] == [] and export["logits_diff"] < 1e-4
        assert "model.multi_modal_projector.linear_1.weight" in export["trained"]
        assert not any("vision_tower" in name for name in export["trained"])
        assert (run_dir / "model" / "model.safetensors").is_file()


def test_zero_init_stage_follows_the_whole_model_loss_curve_in_one_process_with_lora(tmp_path, align_weights):
    flags = ["--align", str(align_weights), "--lora", "--export"]
    whole = _run(tmp_path / "whole", "whole", *flags, processes=1)
    zero_init = _run(tmp_path / "zero_init", "zero_init", *flags, processes=1)
    first, second = _losses(whole), _losses(zero_init)
    assert list(second.values()) == pytest.approx(list(first.values()), rel=1e-5) and first[4] < first[1]
    export = json.loads((zero_init / "export.json").read_text())  # LoRA merged into the exported weights
    assert export["logits_diff"] < 1e-4 and "model.language_model.layers.0.self_attn.q_proj.weight" in export["trained"]


def test_zero_init_stage_resumes_with_the_same_later_losses(tmp_path, align_weights, two_processes):
    _, uninterrupted = two_processes
    flags = ["--align", str(align_weights), "--gradient-checkpointing", "--every", "2"]
    run_dir = _run(tmp_path / "resumed", "zero_init", *flags, "--stop-after", "2")
    assert list(_losses(run_dir)) == [1, 2] and (run_dir / "finetune" / "latest").read_text().strip() == "step0000002"
    first_two = (run_dir / "metrics.jsonl").read_text().splitlines()
    _run(run_dir, "zero_init", *flags, "--resume")
    # Steps 1-2 are the first process's lines (timings included): the resume ran only steps 3-4.
    assert (run_dir / "metrics.jsonl").read_text().splitlines()[:2] == first_two
    assert _losses(run_dir) == pytest.approx(_losses(uninterrupted), rel=1e-6)
