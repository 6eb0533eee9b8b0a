"""Samples/s of evaluating one checkpoint through lmms-eval's evaluator: ``harness_vlm`` at several
batch sizes against lmms-eval's built-in ``llava_hf`` (batch 1 only). Used by the benchmarks."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Throughput:
    model: str
    batch_size: int
    samples: int
    seconds: float
    accuracy: float | None = None
    error: str | None = None

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


def _evaluate_once(lm, task: str, include_path: str, limit: int, task_manager) -> tuple[int, float, float | None]:
    from lmms_eval import evaluator

    started = time.perf_counter()
    results = evaluator.simple_evaluate(model=lm, tasks=[task], limit=limit, log_samples=False, task_manager=task_manager,
                                        bootstrap_iters=0, verbosity="ERROR", process_docs_parallel=1)
    seconds = time.perf_counter() - started
    section = results["results"][task]
    accuracy = next((v for k, v in section.items() if k.startswith("exact_match,")), None)
    return results["n-samples"][task]["effective"], seconds, accuracy


def harness_vlm(checkpoint: Path, task: str, include_path: str, limit: int, batch_size: int, device: str = "cpu",
                dtype: str = "auto", task_manager=None, warmup: bool = True, prefetch: bool = False) -> Throughput:
    """harness_vlm with the cache off (every sample computed), model loading excluded.

    ``prefetch=True``: the next batch prepared on a worker thread meanwhile (the row is labelled so)."""
    from harness.evaluation.model import HarnessVLM

    def load():
        return HarnessVLM(run=str(checkpoint), batch_size=batch_size, device=device, dtype=dtype, cache=False,
                          prefetch=prefetch)

    if warmup:
        _evaluate_once(load(), task, include_path, min(limit, batch_size), task_manager)
    lm = load()  # the evaluator's lm.clean() released the model of the last one
    samples, seconds, accuracy = _evaluate_once(lm, task, include_path, limit, task_manager)
    return Throughput("harness_vlm + prefetch" if prefetch else "harness_vlm", batch_size, samples, seconds, accuracy)


def llava_hf(checkpoint: Path, task: str, include_path: str, limit: int, device: str = "cpu", dtype: str = "float32",
             task_manager=None, warmup: bool = True) -> Throughput:
    """lmms-eval's built-in llava_hf (it asserts batch size 1) on the same checkpoint; error text if it cannot run."""
    try:
        from lmms_eval.models import get_model

        cls = get_model("llava_hf")
        # device_map must name a device: its default "" is refused by transformers 5.
        def load():
            return cls(pretrained=str(checkpoint), device=device, dtype=dtype, device_map=device, batch_size=1)

        lm = load()
        if warmup:
            _evaluate_once(lm, task, include_path, 1, task_manager)
            lm = load()  # the evaluator's lm.clean() dropped its nn.Module attributes
        samples, seconds, accuracy = _evaluate_once(lm, task, include_path, limit, task_manager)
        return Throughput("llava_hf", 1, samples, seconds, accuracy)
    except Exception as exc:  # report why the reference could not run instead of hiding it
        return Throughput("llava_hf", 1, 0, 0.0, None, error=f"{type(exc).__name__}: {exc}"[:300])


def table(rows: list[Throughput]) -> str:
    base = next((r.samples_per_s for r in rows if r.model == "harness_vlm" and r.batch_size == 1 and not r.error), None)
    lines = ["| model | batch | samples | seconds | samples/s | vs harness_vlm batch 1 | exact_match |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.error:
            lines.append(f"| {r.model} | {r.batch_size} | - | - | - | could not run: {r.error} | - |")
            continue
        ratio = f"{r.samples_per_s / base:.1f}x" if base else "-"
        acc = f"{r.accuracy:.3f}" if r.accuracy is not None else "-"
        lines.append(f"| {r.model} | {r.batch_size} | {r.samples} | {r.seconds:.2f} | {r.samples_per_s:.1f} | {ratio} | {acc} |")
    return "\n".join(lines)
