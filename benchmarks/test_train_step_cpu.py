"""One organism training step on the CPU through the recipe's engine (DeepSpeed ZeRO-2, gloo, fp32).

    pytest benchmarks/test_train_step_cpu.py --benchmark-enable

The LLaVA has the organisms' shapes (tiny LLaMA-3: hidden 128, 4 layers, 8/2 heads, 4096 vocabulary;
tiny CLIP: 64-pixel images, 64 patch tokens) with random weights, and the organism profile's batch
(global 32 = micro 16 x 2). A step is one optimizer step (both micro-batches); tokens/s goes to extra_info.
"""
from __future__ import annotations

import math

import pytest

from harness_plugins.organisms.specs import ORGANISMS
from harness_plugins.recipes.llava15.settings import PROFILES
from harness_plugins.vision.organism import ClipOrganismSpec

PROFILE = PROFILES["organism"]
TEXT_TOKENS = 48  # a scene-world instruction sample is a few dozen text tokens


def organism_llava():
    import torch
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

    spec, clip = ORGANISMS["llama3"], ClipOrganismSpec()
    text = spec.llama_config(spec.vocab_size + 64, 1, 2)
    vision = CLIPVisionConfig(hidden_size=clip.hidden_size, intermediate_size=clip.intermediate_size,
                              num_hidden_layers=clip.num_layers, num_attention_heads=clip.num_heads,
                              image_size=clip.image_size, patch_size=clip.patch_size)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=spec.vocab_size + 1,
                         vision_feature_layer=-2, projector_hidden_act="gelu")
    torch.manual_seed(0)
    return LlavaForConditionalGeneration(config), config


@pytest.fixture(scope="module")
def engine_step(tmp_path_factory):
    import torch

    from harness_plugins.recipes.llava15.stage import StagePlan, run_stage

    torch.set_num_threads(2)
    model, config = organism_llava()
    image_tokens = (config.vision_config.image_size // config.vision_config.patch_size) ** 2
    gen = torch.Generator().manual_seed(0)
    n = PROFILE["finetune.global_batch"] * 400
    base = []
    for i in range(64):
        text = torch.randint(3, 4000, (TEXT_TOKENS,), generator=gen).tolist()
        ids = [1] + [config.image_token_id] * image_tokens + text
        base.append({"input_ids": ids, "labels": [-100] * (1 + image_tokens) + text,
                     "pixel_values": torch.randn(3, 64, 64, generator=gen)})
    samples = [base[i % len(base)] for i in range(n)]
    root = tmp_path_factory.mktemp("step")
    plan = StagePlan(name="finetune", lr=1e-4, global_batch=PROFILE["finetune.global_batch"],
                     micro_batch=PROFILE["finetune.micro_batch"], train_llm=True, zero_stage=2, max_steps=400,
                     checkpoint_every=10**9, stop_after_step=1)
    result = run_stage(plan, model, samples, 0, root / "stage", root / "m.jsonl", resume=False)
    return result.engine, samples, plan


def test_organism_training_step(benchmark, engine_step):
    from harness_plugins.recipes.llava15.collate import collate

    engine, samples, plan = engine_step
    accumulation = plan.global_batch // plan.micro_batch
    batches = [collate(samples[i * plan.micro_batch:(i + 1) * plan.micro_batch], 0) for i in range(accumulation)]

    def step():
        loss = 0.0
        for batch in batches:
            out = engine(**batch)
            engine.backward(out.loss)
            engine.step()
            loss += float(out.loss.detach())
        return loss / accumulation

    loss = benchmark(step)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    if benchmark.stats:
        benchmark.extra_info["tokens_per_s"] = tokens / benchmark.stats.stats.mean
    assert math.isfinite(loss)
