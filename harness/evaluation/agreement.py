"""Do stock tools read a checkpoint as the harness does? The same items of one task through
lmms-eval's built-in ``llava_hf`` (stock settings: batch 1, the tokenizer's EOS) and through
``harness_vlm`` (its own settings: batched, the per-sample cache off), compared answer by answer.

``llava_hf`` comes in two implementations in lmms-eval 0.7.3: the chat one that ``--model llava_hf``
picks (prompt from the task's messages) and the simple one that ``--force_simple`` picks (prompt from
the task's text with ``<image>`` prepended); both are checked. The task is named as lmms-eval's CLI
names it and is read from the folder that holds ``harness_runs`` (lmms-eval 0.7.3 loads a task given
as an override dict as a simple task even for a chat model, so the harness's own data overrides
cannot be used here).

Used by ``benchmarks/stock_tools.py`` and the stock-tools test; ``llava_hf`` needs ``decord``
(lmms-eval imports it for videos), which the ``test`` extra installs.
"""
from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HARNESS = "harness_vlm"
STOCK = {"llava_hf": False, "llava_hf --force_simple": True}  # label -> lmms-eval's force_simple


@dataclass
class Agreement:
    """Answers of each stock model and of ``harness_vlm`` on the same items of ``task``."""

    checkpoint: str
    task: str
    answers: dict[str, dict[int, str]]  # model label -> doc id -> answer
    targets: dict[int, str]
    scores: dict[str, float | None] = field(default_factory=dict)  # model label -> the task's exact_match

    @property
    def items(self) -> int:
        return len(self.targets)

    def differing(self, stock: str) -> list[dict[str, Any]]:
        """The items whose answers differ between ``stock`` and harness_vlm: doc id, target, both answers."""
        theirs, ours = self.answers[stock], self.answers[HARNESS]
        return [{"doc_id": d, "target": self.targets[d], stock: theirs[d], HARNESS: ours[d]}
                for d in sorted(self.targets) if theirs[d] != ours[d]]

    def as_dict(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "task": self.task, "items": self.items, "scores": self.scores,
                "differing": {s: len(self.differing(s)) for s in STOCK},
                "differences": {s: self.differing(s) for s in STOCK}}


@contextlib.contextmanager
def _beside_harness_runs(home: Path | None):
    """The working directory lmms-eval's CLI runs from: a folder whose ``harness_runs`` is ``home``."""
    if home is None:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="agreement-") as tmp:
        (Path(tmp) / "harness_runs").symlink_to(Path(home).resolve(), target_is_directory=True)
        with contextlib.chdir(tmp):
            yield


def _answers(model: str, model_args: str, task: str, limit: int, manager: Any, force_simple: bool = False,
             ) -> tuple[dict[int, str], dict[int, str], float | None]:
    from lmms_eval import evaluator

    results = evaluator.simple_evaluate(model=model, model_args=model_args, tasks=[task], limit=limit,
                                        log_samples=True, task_manager=manager, bootstrap_iters=0,
                                        verbosity="ERROR", process_docs_parallel=1, force_simple=force_simple)
    samples = results["samples"][task]
    answers = {int(s["doc_id"]): str(s["resps"][0][0]) for s in samples}
    targets = {int(s["doc_id"]): str(s["target"]) for s in samples}
    score = next((v for k, v in results["results"][task].items() if k.startswith("exact_match,")), None)
    return answers, targets, score


def compare_with_llava_hf(checkpoint: Path | str, task: str = "vqa_scene", home: Path | str | None = None,
                          limit: int = 32, include_paths: tuple[Path | str, ...] | None = None,
                          batch_size: int = 32) -> Agreement:
    """``limit`` items of ``task`` through each stock ``llava_hf`` and ``harness_vlm``, on the CPU in float32.

    ``home``: the HARNESS_HOME holding the scene data (the scene tasks' YAML reads
    ``harness_runs/data/scene/seed0``); None: run where the task's data is found as it is.
    """
    import harness_tasks
    from harness_plugins.tasks.lmms import task_manager

    paths = include_paths if include_paths is not None else (Path(harness_tasks.__file__).parent,)
    manager = task_manager(paths, include_defaults=False)
    checkpoint = str(Path(checkpoint).resolve())
    answers, scores = {}, {}
    with _beside_harness_runs(Path(home) if home is not None else None):
        for label, simple in STOCK.items():
            # device_map must name a device: llava_hf's default "" is refused by transformers 5.
            answers[label], targets, scores[label] = _answers(
                "llava_hf", f"pretrained={checkpoint},device=cpu,device_map=cpu,dtype=float32", task, limit, manager,
                force_simple=simple)
        answers[HARNESS], _, scores[HARNESS] = _answers(
            HARNESS, f"run={checkpoint},device=cpu,dtype=float32,batch_size={batch_size},cache=false", task, limit,
            manager)
    return Agreement(checkpoint, task, answers, targets, scores)
