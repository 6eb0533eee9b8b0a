"""``harness_vlm``: lmms-eval model class for harness (and any HF LLaVA) checkpoints.

    python -m lmms_eval --model harness_vlm --model_args run=<run or checkpoint dir>,batch_size=8 \
        --tasks vqa_scene --include_path <tasks dir> --log_samples --output_path out/

Requests are batched (left padding), answered greedily in the checkpoint's chat format, cached per
sample (see cache.py), and recorded with their confidences and, on request, hidden states.
With ``blind=true`` every image is replaced by a blank one (see :func:`blank_like`): the blind
baseline, which shows how much of a score needs the image; its answers are cached under keys of their own.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lmms_eval.api.instance import GenerationResult
from lmms_eval.api.model import lmms

from harness.errors import HarnessError
from harness.evaluation.cache import ResponseCache, decode_array, encode_array, request_key, task_fingerprint
from harness.evaluation.checkpoint import checkpoint_identity, resolve_checkpoint
from harness.evaluation.engine import VLMEngine
from harness.evaluation.prefetch import prefetched
from harness.evaluation.sidecar import write_task_sidecars

DEFAULT_MAX_NEW_TOKENS = 32


def default_device(device: str | None = None) -> str:
    """``device``, else ``cuda`` when a GPU is visible, else ``cpu``; under a launcher (LOCAL_RANK set) a
    bare ``cuda`` is ``cuda:<LOCAL_RANK>``, so that each process evaluates on its own GPU, not all on GPU 0."""
    import os

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device


def _progress(total: int, desc: str, cached: int) -> Any:
    """A tqdm bar over the requests the model answers (as lmms-eval's own models show)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=f"{desc} ({cached} cached)" if cached else desc, disable=total == 0, leave=False)


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


class HarnessVLM(lmms):
    """Batched greedy LLaVA evaluation with confidences, hidden states and a resumable cache."""

    is_simple = True

    def __init__(self, run: str | None = None, batch_size: int | str = 1, device: str | None = None,
                 dtype: str = "auto", max_new_tokens: int | str | None = None, confidences: bool | str = True,
                 hidden_states: bool | str = False, cache: bool | str = True, cache_dir: str | None = None,
                 records_dir: str | None = None, attn_implementation: str | None = None,
                 max_batch_size: int | None = None, prefetch: bool | str = False, blind: bool | str = False,
                 **unknown: Any) -> None:
        super().__init__()
        if unknown:
            raise HarnessError(f"unknown harness_vlm model_args {sorted(unknown)}",
                               "known: run, batch_size, device, dtype, max_new_tokens, confidences, hidden_states, "
                               "cache, cache_dir, records_dir, attn_implementation, prefetch, blind")
        if not run:
            raise HarnessError("harness_vlm needs model_args run=<run directory or checkpoint folder>")
        self.batch_size_per_device = int(batch_size)
        if self.batch_size_per_device < 1:
            raise HarnessError(f"batch_size={batch_size} is below 1", "use a batch size of 1 or more")
        self.max_new_tokens = int(max_new_tokens) if max_new_tokens not in (None, "", "None") else None
        self.confidences = _flag(confidences)
        self.save_hidden_states = _flag(hidden_states)
        # Prepare the next batch on a worker thread while the model runs this one. Off by default: on a
        # 2-core CPU the thread competes with the kernels for the cores (batch 32 measured ~6% slower);
        # benchmarks/eval_gpu.py measures it on a GPU.
        self.prefetch = _flag(prefetch)
        self.records_dir = Path(records_dir) if records_dir else None
        self.blind = _flag(blind)  # every image replaced by a blank one (the blind baseline)
        self.keep_loaded = False  # clean() keeps the model (evaluate() runs a blind pass after the first)
        device = default_device(device)
        self.checkpoint = resolve_checkpoint(run)
        if _flag(cache):
            from harness.paths import home

            root = Path(cache_dir) if cache_dir else home() / "eval_cache"
            self.checkpoint_id = checkpoint_identity(self.checkpoint, memo_dir=root)
            self.cache: ResponseCache | None = ResponseCache(root / f"{self.checkpoint_id[:24]}.jsonl")
        else:
            self.checkpoint_id = checkpoint_identity(self.checkpoint)
            self.cache = None
        self.engine = VLMEngine(self.checkpoint, device=device, dtype=dtype, attn_implementation=attn_implementation)
        if self.prefetch:
            self.engine.separate_preparation()
        self.dtype_name = str(self.engine.model.dtype)
        self.blank_colour = blank_colour(self.engine.processor)
        self._device = self.engine.device
        # What the runner (or records_dir) turns into per-sample rows: task -> doc id -> record.
        self.records: dict[str, dict[int, dict[str, Any]]] = {}
        self.hidden: dict[str, dict[int, np.ndarray]] = {}
        # Multiple-choice tasks: task -> doc id -> choice index -> (continuation, log-likelihood).
        self.choices: dict[str, dict[int, dict[int, tuple[str, float]]]] = {}
        self.computed = 0  # requests that ran through the model (not served by the cache)
        self.served_from_cache = 0  # requests answered from the cache (an entry without needed hidden states is not)
        self._fingerprints: dict[str, str] = {}

    # -- lmms-eval's interface ---------------------------------------------------------------

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> "HarnessVLM":
        """``--model_args`` win over the CLI's ``--batch_size``/``--device`` (which always has a default)."""
        from lmms_eval import utils

        args = {k: v for k, v in (additional_config or {}).items() if v is not None}
        args.update(utils.simple_parse_args_string(arg_string))
        try:
            return cls(**args)
        except HarnessError as exc:
            # lmms-eval's CLI would print a traceback and exit 0; bad model_args are one line and exit 2.
            import sys

            print(f"error: {exc.one_line()}", file=sys.stderr)
            raise SystemExit(exc.exit_code) from None

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_device

    @property
    def device(self) -> torch.device:
        return self._device

    def generate_until(self, requests: list) -> list[str]:
        items = []
        for i, req in enumerate(requests):
            context, gen_kwargs, doc_to_visual, doc_id, task, split = req.args
            items.append((i, context, dict(gen_kwargs or {}), doc_to_visual, doc_id, task, split))
        results: list[str | None] = [None] * len(items)
        # Longest prompts first: padding within a batch stays small, and memory errors come early.
        items.sort(key=lambda it: (it[5], json.dumps(it[2], sort_keys=True, default=str), -len(it[1])))
        todo = []
        for it in items:
            key, settings = self._generation_key(it)
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is not None and (not self.save_hidden_states or "hidden" in cached):
                self.served_from_cache += 1
                self._record(it[5], it[4], cached)
                results[it[0]] = cached["text"]
            else:
                todo.append((it, key, settings))
        groups: dict[str, list] = {}
        for entry in todo:  # one generate() call serves one set of generation settings
            groups.setdefault(json.dumps(entry[2], sort_keys=True), []).append(entry)
        batches = [group[start:start + self.batch_size] for group in groups.values()
                   for start in range(0, len(group), self.batch_size)]
        with _progress(len(todo), "Model Responding", len(items) - len(todo)) as bar:
            for batch, prepared in prefetched(batches, self._prepare_generation_batch, self.prefetch):
                self._run_generation_batch(batch, prepared, results)
                bar.update(len(batch))
        self._flush_records()
        return [r if r is not None else "" for r in results]

    def loglikelihood(self, requests: list) -> list:
        """Per request (context, continuation): (-log p(continuation | prompt), is greedy), as lmms-eval scores it."""
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        self._choice_slots: dict[int, tuple[str, int, int, str]] = {}
        todo = []
        for i, req in enumerate(requests):
            context, target, doc_to_visual, doc_id, task, split = req.args
            doc = self.task_dict[task][split][doc_id]
            continuation = target if isinstance(target, str) else str(target(doc))
            fingerprint = self._task_fingerprint(doc_to_visual, task, split)
            key = request_key(self.checkpoint_id, fingerprint, doc_id, "loglikelihood", [context, continuation],
                              self._blind_setting({"dtype": self.dtype_name}))
            cached = self.cache.get(key) if self.cache is not None else None
            self._choice_slots[i] = (task, int(doc_id), int(getattr(req, "idx", 0)), continuation)
            if cached is not None:
                self.served_from_cache += 1
                results[i] = (cached["ll"], cached["greedy"])
            else:
                todo.append((i, context, continuation, doc_to_visual(doc), key))
        todo.sort(key=lambda t: -len(t[1]) - len(t[2]))
        batches = [todo[start:start + self.batch_size] for start in range(0, len(todo), self.batch_size)]

        def prepare(batch: list) -> Any:
            return self.engine.prepare_scoring([t[1] for t in batch], [t[2] for t in batch],
                                               [self._images(t[3]) for t in batch])

        with _progress(len(todo), "Model Scoring", len(requests) - len(todo)) as bar:
            for batch, prepared in prefetched(batches, prepare, self.prefetch):
                with out_of_memory_hint(self.batch_size):
                    scored = self.engine.score_prepared(prepared)
                self.computed += len(batch)
                bar.update(len(batch))
                for t, (ll, greedy) in zip(batch, scored):
                    results[t[0]] = (ll, greedy)
                if self.cache is not None:
                    self.cache.put_many([(t[4], {"ll": ll, "greedy": greedy}) for t, (ll, greedy) in zip(batch, scored)])
        for i, (task, doc_id, idx, continuation) in self._choice_slots.items():
            self.choices.setdefault(task, {}).setdefault(doc_id, {})[idx] = (continuation, results[i][0])
        # Two lmms-eval 0.7.3 conventions: its multiple_choice scoring takes the argmin, because its built-in
        # models return a loss, so the first value is -log p; and its evaluator turns a plain tuple into its
        # str() (unwrap_generation_output), so the pair travels inside a GenerationResult.
        return [GenerationResult(text=(-ll, greedy)) for ll, greedy in results]  # type: ignore[arg-type,misc]

    def clean(self) -> None:
        """Release the model at the end of an evaluation (lmms-eval calls this). lmms' own clean()
        deletes nn.Module attributes (this class keeps its model in ``engine``) and runs a full
        gc pass that frees nothing here and costs about 0.7 s on a CPU with lmms-eval loaded.
        ``keep_loaded`` keeps the model for another pass (the blind baseline) of the same evaluation."""
        if self.keep_loaded:
            return
        self.engine = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def generate_until_multi_round(self, requests: list) -> list:
        """Each doc's rounds in turn (the task's doc_to_text decides when to stop); docs batched per round."""
        out: list = [None] * len(requests)
        for start in range(0, len(requests), self.batch_size):
            chunk = list(enumerate(requests[start:start + self.batch_size], start))
            state = {}
            for i, req in chunk:
                context, gen_kwargs, doc_to_visual, doc_to_text, doc_id, task, split = req.args
                doc = self.task_dict[task][split][doc_id]
                state[i] = {"doc": doc, "context": context, "visuals": doc_to_visual(doc), "rounds": [], "info": None,
                            "doc_to_text": doc_to_text, "gen": dict(gen_kwargs or {})}
            active = [i for i, _ in chunk]
            round_idx = 0
            while active:
                answers = self.engine.generate([state[i]["context"] for i in active],
                                               [self._images(state[i]["visuals"]) for i in active],
                                               self._max_new_tokens(state[active[0]]["gen"]),
                                               until=_until(state[active[0]]["gen"]))
                self.computed += len(active)
                round_idx += 1
                still = []
                for i, answer in zip(active, answers):
                    s = state[i]
                    s["rounds"].append(answer.text)
                    visuals, context, terminal, _, info = s["doc_to_text"](
                        s["doc"], previous_output=list(s["rounds"]), round_idx=round_idx, previous_round_info=s["info"])
                    if terminal:
                        out[i] = tuple(s["rounds"])
                    else:
                        s.update(context=context, visuals=visuals if visuals is not None else s["visuals"], info=info)
                        still.append(i)
                active = still
        return out

    # -- helpers -----------------------------------------------------------------------------

    def _max_new_tokens(self, gen_kwargs: dict) -> int:
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        return int(gen_kwargs.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS)

    def _task_fingerprint(self, doc_to_visual: Any, task: str, split: str) -> str:
        if task not in self._fingerprints:
            # doc_to_visual is bound to the task object: its config (the YAML) and data identify the task.
            owner = getattr(doc_to_visual, "__self__", None)
            self._fingerprints[task] = task_fingerprint(owner, task, split)
        return self._fingerprints[task]

    def _generation_key(self, item: tuple) -> tuple[str, dict]:
        _, context, gen_kwargs, doc_to_visual, doc_id, task, split = item
        settings = self._blind_setting({"max_new_tokens": self._max_new_tokens(gen_kwargs), "until": _until(gen_kwargs),
                                        "dtype": self.dtype_name, "greedy": True})
        key = request_key(self.checkpoint_id, self._task_fingerprint(doc_to_visual, task, split), doc_id,
                          "generate_until", [context], settings)
        return key, settings

    def _images(self, visuals: Any) -> list:
        from PIL import Image

        visuals = [v for v in (visuals or []) if v is not None]
        for v in visuals:
            if not isinstance(v, Image.Image):
                raise HarnessError(f"harness_vlm takes images only, the task gave a {type(v).__name__}",
                                   "use an image task (video and audio are not supported)")
        if self.blind:
            return [blank_like(v, self.blank_colour) for v in visuals]
        return [v.convert("RGB") for v in visuals]

    def _blind_setting(self, settings: dict) -> dict:
        """A blind answer is another answer: its cache key says so (seeing answers keep their keys)."""
        return {**settings, "blind": True} if self.blind else settings

    def _prepare_generation_batch(self, batch: list) -> Any:
        """The batch's documents fetched, images decoded, prompts tokenized (on the worker thread with prefetch=true)."""
        return self.engine.prepare([it[1] for it, _, _ in batch],
                                   [self._images(it[3](self.task_dict[it[5]][it[6]][it[4]])) for it, _, _ in batch])

    def _run_generation_batch(self, batch: list, prepared: Any, results: list) -> None:
        settings = batch[0][2]
        with out_of_memory_hint(self.batch_size):
            answers = self.engine.generate_prepared(prepared, settings["max_new_tokens"], until=settings["until"],
                                                    hidden_states=self.save_hidden_states)
        self.computed += len(batch)
        stored = []
        for (it, key, _), answer in zip(batch, answers):
            value = {"text": answer.text, "first_token_prob": answer.first_token_prob,
                     "sequence_prob": answer.sequence_prob, "num_tokens": answer.num_tokens}
            if answer.hidden_states is not None:
                value["hidden"] = encode_array(answer.hidden_states)
            results[it[0]] = answer.text
            self._record(it[5], it[4], value)
            stored.append((key, value))
        if self.cache is not None:
            self.cache.put_many(stored)

    def _record(self, task: str, doc_id: int, value: dict) -> None:
        record = {k: v for k, v in value.items() if k != "hidden"}
        if not self.confidences:
            record.pop("first_token_prob", None)
            record.pop("sequence_prob", None)
        self.records.setdefault(task, {})[int(doc_id)] = record
        if self.save_hidden_states and "hidden" in value:
            self.hidden.setdefault(task, {})[int(doc_id)] = decode_array(value["hidden"])

    def _flush_records(self) -> None:
        if self.records_dir is None:
            return
        from harness.evaluation.distributed import gather_records, rank_and_world

        gather_records(self)  # several ranks (lmms-eval's CLI under torchrun): rank 0 writes everyone's, once
        if rank_and_world()[0] != 0:
            return
        for task, records in self.records.items():
            write_task_sidecars(self.records_dir, task, records, self.hidden.get(task))


@contextlib.contextmanager
def out_of_memory_hint(batch_size: int) -> Iterator[None]:
    """A device out-of-memory error as one line saying what to lower (answers so far stay cached)."""
    try:
        yield
    except torch.OutOfMemoryError:
        raise HarnessError(f"out of memory evaluating a batch of {batch_size}",
                           f"lower eval.batch_size (now {batch_size}; model_args batch_size= under lmms-eval's CLI) "
                           "and rerun: answers already computed come from the cache") from None


def blank_colour(processor: Any) -> tuple[int, int, int]:
    """The processor's mean pixel colour (0-255): a blank image of it normalises to zeros, and LLaVA-1.5
    pads images to square with it. Mid-grey for a processor that states no mean."""
    mean = getattr(getattr(processor, "image_processor", processor), "image_mean", None) or (0.5, 0.5, 0.5)
    values = [float(m) for m in (mean if isinstance(mean, (list, tuple)) else [mean] * 3)][:3]
    return tuple(int(round(255 * min(max(v, 0.0), 1.0))) for v in values)  # type: ignore[return-value]


def blank_like(image: Any, colour: tuple[int, int, int]) -> Any:
    """A uniform RGB image of ``colour`` with the size of ``image``; it then goes through the same processor."""
    from PIL import Image

    return Image.new("RGB", image.size, colour)


def _until(gen_kwargs: dict) -> list[str]:
    until = gen_kwargs.get("until") or []
    return [until] if isinstance(until, str) else [u for u in until if isinstance(u, str)]
