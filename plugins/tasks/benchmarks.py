"""Real benchmarks: harness names mapped to lmms-eval 0.7.3's own tasks, with capability tags.

With network access lmms-eval downloads their data as usual (``data="lmms-eval"``); offline,
``task.data=/path`` points a benchmark at a local ``datasets`` folder in the same schema
(see :mod:`harness_plugins.tasks.lmms`). Entry-point module: imports nothing heavy.
"""
from __future__ import annotations

from harness import hookimpl
from harness.specs import TaskSpec


def _benchmark(name: str, **fields) -> TaskSpec:
    return TaskSpec(name=name, prepare=f"harness_plugins.tasks.prepare:prepare_{name}", **fields)


BENCHMARKS: tuple[TaskSpec, ...] = (
    _benchmark("vqav2", lmms_tasks=("vqav2_val",), primary_metric="exact_match",
               capability_tags=("perception-heavy",),
               description="VQAv2 validation split, VQA accuracy (lmms-eval vqav2_val)."),
    _benchmark("gqa", lmms_tasks=("gqa",), primary_metric="exact_match",
               capability_tags=("reasoning-heavy",),
               description="GQA test-dev balanced, compositional questions (lmms-eval gqa)."),
    _benchmark("textvqa", lmms_tasks=("textvqa_val",), primary_metric="exact_match",
               capability_tags=("OCR", "perception-heavy"),
               description="TextVQA validation, reading text in images (lmms-eval textvqa_val)."),
    _benchmark("scienceqa_img", lmms_tasks=("scienceqa_img",), primary_metric="exact_match",
               capability_tags=("reasoning-heavy",), aliases=("scienceqa",),
               description="ScienceQA questions with an image, multiple choice (lmms-eval scienceqa_img)."),
    _benchmark("pope", lmms_tasks=("pope",), primary_metric="pope_f1_score",
               capability_tags=("hallucination", "perception-heavy"),
               description="POPE object-hallucination yes/no probes; F1 as LLaVA-1.5 reports it (lmms-eval pope)."),
    _benchmark("mme", lmms_tasks=("mme",), primary_metric="mme_perception_score",
               capability_tags=("perception-heavy", "reasoning-heavy", "OCR"),
               description="MME perception (and cognition) scores (lmms-eval mme)."),
    _benchmark("mmbench_en", lmms_tasks=("mmbench_en_dev_static",), primary_metric="gpt_eval_score",
               capability_tags=("perception-heavy", "reasoning-heavy"), aliases=("mmbench",),
               description="MMBench-EN dev, answers matched without a GPT judge (lmms-eval mmbench_en_dev_static)."),
)


@hookimpl
def register_tasks(register):
    for spec in BENCHMARKS:
        register(spec)
