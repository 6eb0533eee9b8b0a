"""``harness train`` end to end on the organisms: both stages, export, reuse, refusal of foreign runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


@pytest.fixture(scope="module")
def organisms(tmp_path_factory):
    """The packaged organisms when built, else a quick build (llama3 + clip) in a temporary folder."""
    from harness.lazy import load_ref
    from harness.errors import HarnessError
    from harness.plugin_manager import get_plugins

    spec = get_plugins().registry("backbones").entry("llama3").spec
    try:
        load_ref(spec.implementation)(spec.model_card).weights_dir("tiny")
        return []
    except HarnessError:
        out = tmp_path_factory.mktemp("organisms")
        done = subprocess.run([str(Path(sys.executable).parent / "harness"), "organisms", "build", "--quick",
                               "--only", "llama3", "--only", "clip", "--out", str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return [f"backbone.path={out / 'llama3'}", f"vision.path={out / 'clip'}"]


@pytest.fixture(scope="module")
def llava_json(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("data")
    rows = []
    for i in range(24):
        name = list(COLOURS)[i % 3]
        Image.new("RGB", (64, 64), COLOURS[name]).save(root / f"{i}.png")
        rows.append({"id": f"s{i}", "image": f"{i}.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is the image?"}, {"from": "gpt", "value": name}]})
    (root / "train.json").write_text(json.dumps(rows))
    return [f"data.train={root / 'train.json'}", f"data.image_root={root}"]


# One epoch of each stage on the module's 24-record mix: 3 steps each (the organism profile's five finetune epochs
# would make it 15; the pipeline, not the budget, is under test here).
SMALL = ["recipe.align.global_batch=8", "recipe.align.micro_batch=4", "recipe.finetune.global_batch=8",
         "recipe.finetune.micro_batch=4", "recipe.finetune.epochs=1", "recipe.checkpoint_every=2"]


def _harness(args, home, check=True, env=None):
    env = os.environ | {"HARNESS_HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"} | (env or {})
    done = subprocess.run([str(Path(sys.executable).parent / "harness"), *args], env=env, capture_output=True,
                          text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def trained(organisms, llava_json, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    overrides = [*organisms, *llava_json, *SMALL]
    done = _harness(["train", *overrides], home)
    export = Path(done.stdout.strip().split()[-1])
    return home, overrides, export, done.stdout


def test_train_exports_a_standard_hf_llava_with_processor_and_card(trained):
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    _, _, export, _ = trained
    model = LlavaForConditionalGeneration.from_pretrained(export)
    processor = AutoProcessor.from_pretrained(export)
    assert type(processor).__name__ == "LlavaProcessor" and processor.tokenizer.chat_template
    assert (export / "model.safetensors").is_file()
    card = (export / "README.md").read_text()
    assert "llama3" in card and "clip" in card and "train.json" in card and "llava15" in card
    meta = json.loads((export / "harness.json").read_text())
    assert meta["training_hash"] == meta["hashes"]["training"]
    assert model.config.image_token_id == processor.tokenizer.convert_tokens_to_ids("<image>")


def test_train_records_metrics_and_throughput_per_stage(trained):
    _, _, export, stdout = trained
    run_dir = export.parent
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in rows} == {"align", "finetune"}
    summary = json.loads((run_dir / "training_summary.json").read_text())["stages"]
    assert summary["align"]["tokens_per_s"] > 0 and summary["finetune"]["steps"] == 3
    assert summary["align"]["compute"].endswith(" kernels")  # what computed the floats: a CPU and its kernel set
    assert summary["align"]["tokens"] == sum(r["tokens"] for r in rows if r["stage"] == "align")
    # max_length's cut, over the samples the stage rendered: its 3 steps of 8, the 24 short records, none cut
    assert summary["finetune"]["truncation"] == {"max_length": 384, "samples": 24, "truncated": 0,
                                                 "supervised_tokens_cut": 0}
    text = " ".join(stdout.split())
    assert f"align: 3 steps, {summary['align']['tokens_per_s']:,.0f} tokens/s" in text and "finetune: 3 steps" in text
    assert json.loads((run_dir / "align" / "deepspeed_config.json").read_text())["zero_optimization"]["stage"] == 2
    assert json.loads((run_dir / "finetune" / "deepspeed_config.json").read_text())["zero_optimization"]["stage"] == 2  # organism profile


def test_second_train_reuses_the_finished_checkpoint(trained):
    home, overrides, export, _ = trained
    before = (export / "model.safetensors").stat().st_mtime_ns
    done = _harness(["train", *overrides], home)
    assert "already trained" in done.stdout and str(export) in done.stdout
    assert (export / "model.safetensors").stat().st_mtime_ns == before


def test_resume_into_a_run_of_another_training_is_refused(trained):
    home, overrides, export, _ = trained
    done = _harness(["train", "--run-dir", str(export.parent), *overrides, "seed=5", "resume=true"], home, check=False)
    assert done.returncode == 2
    assert "training hash" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_init_from_starts_the_finetune_from_every_weight_of_the_checkpoint_and_skips_align(trained):
    """At a learning rate of 1e-12 one step moves nothing measurable: the new export must equal the checkpoint
    it started from, projector and LLM, where the run's own align projector (what a finetune starts from
    without recipe.init_from) is far from it."""
    from safetensors.torch import load_file

    home, overrides, export, _ = trained
    done = _harness(["train", *overrides, f"recipe.init_from={export}", "recipe.finetune.lr=1e-12",
                     "recipe.finetune.max_steps=1"], home)
    second = Path(done.stdout.strip().split()[-1])
    assert second != export
    start, after = load_file(str(export / "model.safetensors")), load_file(str(second / "model.safetensors"))
    assert start.keys() == after.keys()
    assert max((start[k] - after[k]).abs().max().item() for k in start) < 1e-6
    align = load_file(str(export.parent / "align" / "trainable.safetensors"))
    projector = "model.multi_modal_projector.linear_2.weight"
    assert (align[projector] - start["multi_modal_projector.linear_2.weight"]).abs().max().item() > 1e-3
    summary = json.loads((second.parent / "training_summary.json").read_text())["stages"]
    assert set(summary) == {"finetune"} and summary["finetune"]["init_from"] == str(export)
    assert not (second.parent / "align").exists()


def test_data_perceive_trains_a_stage_between_align_and_finetune_and_the_finetune_starts_from_it(trained, llava_json):
    """The perceive stage trains projector and LLM on its data after align (at its own learning rate); at a
    finetune learning rate of 1e-12 the export must equal what perceive trained (not align's projector, which
    perceive moved)."""
    from safetensors.torch import load_file
    from transformers import LlavaForConditionalGeneration

    home, overrides, _, _ = trained
    data = llava_json[0].split("=", 1)[1]
    done = _harness(["train", *overrides, f"data.perceive={data}", "recipe.perceive_epochs=1", "recipe.perceive_lr=1e-3",
                     "recipe.finetune.lr=1e-12", "recipe.finetune.max_steps=1"], home)
    export = Path(done.stdout.strip().split()[-1])
    run_dir = export.parent
    summary = json.loads((run_dir / "training_summary.json").read_text())["stages"]
    assert list(summary) == ["align", "perceive", "finetune"] and summary["perceive"]["steps"] == 3  # 24 exchanges / 8
    assert {json.loads(line)["stage"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()} == {
        "align", "perceive", "finetune"}
    perceived = load_file(str(run_dir / "perceive" / "trainable.safetensors"))
    assert any(k.startswith("model.language_model.") for k in perceived)  # the LLM trained too
    exported = LlavaForConditionalGeneration.from_pretrained(export).state_dict()
    assert max((perceived[k] - exported[k]).abs().max().item() for k in perceived) < 1e-6
    projector = "model.multi_modal_projector.linear_2.weight"
    aligned = load_file(str(run_dir / "align" / "trainable.safetensors"))
    assert (aligned[projector] - perceived[projector]).abs().max().item() > 1e-4
    assert "perceive stage: train.json, 24 exchanges" in (export / "README.md").read_text()


def test_harness_train_killed_in_finetune_resumes_to_the_same_losses(organisms, llava_json, tmp_path):
    import signal
    import time

    overrides = [*organisms, *llava_json, "recipe.align.global_batch=4", "recipe.align.micro_batch=4",
                 "recipe.finetune.global_batch=4", "recipe.finetune.micro_batch=4", "recipe.checkpoint_every=2"]
    _harness(["train", *overrides], tmp_path / "full")
    home = tmp_path / "killed"
    env = os.environ | {"HARNESS_HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "harness"), "train", *overrides], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    latest = None
    while time.time() < deadline and proc.poll() is None:
        found = list(home.glob("checkpoints/*/finetune/latest"))
        if found and found[0].read_text().strip() >= "step0000002":
            latest = found[0]
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert latest is not None, "the run ended before it could be killed"
    run_dir = latest.parent.parent
    killed_at = latest.read_text().strip()
    assert not (run_dir / "model").exists() and killed_at < "step0000006"
    lines_before = (run_dir / "metrics.jsonl").read_text().splitlines()
    again = _harness(["train", *overrides], home, check=False)
    assert again.returncode == 2 and "resume=true" in again.stderr  # an interrupted run is not silently restarted
    _harness(["train", *overrides, "resume=true"], home)
    # The resumed process ran only what the checkpoint had not done: the align lines and the finetune lines
    # up to the checkpoint's step are the killed process's own (timings included), not recomputed ones.
    kept = [line for line in lines_before if json.loads(line)["stage"] == "align"
            or json.loads(line)["step"] <= int(killed_at.removeprefix("step"))]
    assert (run_dir / "metrics.jsonl").read_text().splitlines()[:len(kept)] == kept

    def losses(root):
        (metrics,) = root.glob("checkpoints/*/metrics.jsonl")
        return [(r["stage"], r["step"], r["loss"]) for r in map(json.loads, metrics.read_text().splitlines())]

    full, resumed = losses(tmp_path / "full"), losses(home)
    assert [s[:2] for s in resumed] == [s[:2] for s in full]
    assert [s[2] for s in resumed] == pytest.approx([s[2] for s in full], abs=1e-6)

    def summary(root):
        (path,) = root.glob("checkpoints/*/training_summary.json")
        return json.loads(path.read_text())["stages"]["finetune"]

    # The resumed stage's summary covers the whole stage, not just the part after the checkpoint.
    assert summary(home)["tokens"] == summary(tmp_path / "full")["tokens"]
    assert summary(home)["first_loss"] == pytest.approx(summary(tmp_path / "full")["first_loss"], abs=1e-6)


def test_launcher_torchrun_trains_in_two_processes(organisms, llava_json, tmp_path):
    done = _harness(["train", "launcher=torchrun", "num_gpus=2", *organisms, *llava_json, *SMALL], tmp_path)
    assert "torchrun --nproc_per_node 2" in " ".join(done.stdout.split())
    (summary,) = tmp_path.glob("checkpoints/*/training_summary.json")
    stages = json.loads(summary.read_text())["stages"]
    assert stages["align"]["world_size"] == stages["finetune"]["world_size"] == 2
    again = _harness(["train", "launcher=torchrun", "num_gpus=2", *organisms, *llava_json, *SMALL], tmp_path)
    assert "already trained" in again.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_launcher_deepspeed_trains_in_two_processes(organisms, llava_json, tmp_path):
    args = ["train", "resume=true", "launcher=deepspeed", "num_gpus=2", *organisms, *llava_json, *SMALL]
    done = _harness(args, tmp_path, env={"MASTER_PORT": str(_free_port())})
    text = " ".join(done.stdout.split())
    assert "nothing to resume for this training config" in text and "starting from step 0" in text
    assert "deepspeed --no_local_rank --num_gpus 2" in text
    assert "align: 3 steps" in text and "finetune: 3 steps" in text and "tokens/s (2 x cpu)" in text
    (state,) = tmp_path.glob("checkpoints/*/training.json")
    assert json.loads(state.read_text())["status"] == "finished"
    stages = json.loads((state.parent / "training_summary.json").read_text())["stages"]
    assert stages["align"]["world_size"] == stages["finetune"]["world_size"] == 2
    again = _harness(args, tmp_path)
    assert "already trained" in again.stdout


def test_batch_that_does_not_divide_fails_in_one_line_writing_nothing(organisms, tmp_path):
    done = _harness(["train", *organisms, "recipe.align.global_batch=30"], tmp_path, check=False)
    assert done.returncode == 2 and "16 x 1 = 16" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ") and not (tmp_path / "checkpoints").exists()
