"""Build the LLaMA organisms: train the tokenizer, pretrain the model, save loadable HF folders.

Each organism is written to a temporary folder and renamed into place, so a failed or interrupted
build never leaves a half-written organism. ``build_organisms`` also runs the vision plugin's CLIP
organism builder when that module is installed.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, unknown_name
from harness.runs import replace_dir

from .corpus import TextSource, scene_corpus, stream, tokenizer_texts
from .pretrain import HELDOUT_SEED, heldout_bits_per_character, pretrain, token_blocks
from .specs import BATCH_SIZE, ORGANISMS, TRAIN_SEQ_LEN, OrganismSpec

PACKAGED = Path(__file__).parent  # where the shipped organisms live
TOKENIZER_DOCS = {"full": 20_000, "quick": 1_000}
HELDOUT_DOCS = {"full": 200, "quick": 20}  # corpus documents the held-out loss is measured on
VISION_BUILDER = "harness_plugins.vision.organism"
BUILD_COMMAND = "harness organisms build"

Progress = Callable[[str, int, int, float | None], None]  # (organism, done, total, loss)


def train_tokenizer(spec: OrganismSpec, texts: list[str], out_dir: Path) -> Any:
    """Train and save the organism's tokenizer; return it loaded back through AutoTokenizer."""
    from transformers import AutoTokenizer

    from .train_tokenizer import save_hf_tokenizer, train_byte_level_bpe, train_sentencepiece_bpe

    train = train_sentencepiece_bpe if spec.tokenizer == "sentencepiece_bpe" else train_byte_level_bpe
    save_hf_tokenizer(train(texts, spec.vocab_size), out_dir, spec.bos, spec.eos, spec.unk, spec.context)
    return AutoTokenizer.from_pretrained(str(out_dir))


def build_llama_organism(spec: OrganismSpec, out_dir: Path, seed: int = 0, quick: bool = False,
                         source: TextSource | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Build one LLaMA organism into ``out_dir``; returns the build record (also saved as build.json)."""
    import torch
    from transformers import LlamaForCausalLM

    source = source or scene_corpus()
    mode = "quick" if quick else "full"
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        tokenizer = train_tokenizer(spec, tokenizer_texts(source, seed, TOKENIZER_DOCS[mode]), tmp)
        config = spec.llama_config(len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id)
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        budget = spec.token_budget(quick)
        blocks: Iterator[list[int]] = token_blocks(stream(source, seed), tokenizer, TRAIN_SEQ_LEN)
        result = pretrain(model, blocks, budget, TRAIN_SEQ_LEN, BATCH_SIZE, seed,
                          on_step=(lambda d, t, loss: progress(spec.name, d, t, loss)) if progress else None)
        heldout = heldout_bits_per_character(model, tokenizer, list(source(HELDOUT_SEED, HELDOUT_DOCS[mode])))
        # fp16 storage halves the shipped size; config.json says float32, so from_pretrained upcasts.
        model.config.dtype = torch.float32
        model.save_pretrained(str(tmp), state_dict={k: v.to(torch.float16) for k, v in model.state_dict().items()})
        record = {
            "organism": spec.name, "seed": seed, "mode": mode,
            "command": f"{BUILD_COMMAND}{' --quick' if quick else ''} --only {spec.name} --seed {seed}",
            "vocab_size": len(tokenizer), "params": sum(p.numel() for p in model.parameters()),
            "token_budget": budget, "train_seq_len": TRAIN_SEQ_LEN, "batch_size": BATCH_SIZE,
            "tokenizer_docs": TOKENIZER_DOCS[mode], "pretrain": asdict(result), "heldout": heldout,
            "spec": asdict(spec),
            # bit-identical rebuilds need the same thread count and torch build (CPU matmul reduction order)
            "threads": torch.get_num_threads(), "torch": torch.__version__,
        }
        (tmp / "build.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        replace_dir(tmp, out_dir, shareable=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return record


def _build_clip(out_root: Path, seed: int, quick: bool, progress: Progress | None) -> dict[str, Any]:
    from harness.lazy import load_ref

    builder = load_ref(f"{VISION_BUILDER}:build_clip_organism")
    record = builder(Path(out_root) / "clip", seed, quick,
                     progress=(lambda d, t, loss: progress("clip", d, t, loss)) if progress else None)
    return {"organism": "clip", **(record or {})}


def build_organisms(out_root: Path = PACKAGED, only: tuple[str, ...] = (), seed: int = 0, quick: bool = False,
                    source: TextSource | None = None, progress: Progress | None = None,
                    with_vision: bool = True, jobs: int = 1) -> list[dict[str, Any]]:
    """Build the named organisms (all by default) into ``out_root/<name>``, LLaMAs then CLIP.

    ``jobs=2`` builds the CLIP organism in a second process while this one builds the LLaMAs (its builder
    runs on one thread, so two cores finish the full build in the time of the longer of the two). The
    records come back in the same order either way.
    """
    known = list(ORGANISMS) + ["clip"]
    for name in only:
        if name not in known:
            raise unknown_name("organism", name, known)
    names = list(only) or known
    if "clip" in names and (not with_vision or importlib.util.find_spec(VISION_BUILDER) is None):
        if with_vision and only:
            raise HarnessError(f"the CLIP organism builder ({VISION_BUILDER}) is not installed",
                               "build the LLaMA organisms with --only llama1/llama2/llama3")
        names.remove("clip")
    llamas = [name for name in names if name != "clip"]
    if "clip" not in names or jobs < 2 or not llamas:
        records = [build_llama_organism(ORGANISMS[name], Path(out_root) / name, seed, quick, source, progress)
                   for name in llamas]
        return records + ([_build_clip(out_root, seed, quick, progress)] if "clip" in names else [])
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a fresh interpreter, no copy of this process's torch thread pool; no progress across processes
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        clip = pool.submit(_build_clip, Path(out_root), seed, quick, None)
        if progress:
            progress("clip", 0, 1, None)
        records = [build_llama_organism(ORGANISMS[name], Path(out_root) / name, seed, quick, source, progress)
                   for name in llamas]
        record = clip.result()
    if progress:
        progress("clip", 1, 1, record.get("training", {}).get("final_loss"))
    return records + [record]
