"""Padding with and without length grouping, on LLaVA-format data of mixed lengths: the fraction of
padded positions over every micro-batch of one epoch, for a plain shuffle, LLaVA's own
``group_by_modality_length`` sampler, and the recipe's (``recipe.finetune.group_by_modality_length``).

    python benchmarks/padding_cpu.py [--samples 8000] [--json out/mix.json]

The data imitates the composition of LLaVA-1.5's ``llava_v1_5_mix665k.json`` (which is not on this
machine): 6% text-only ShareGPT-like conversations of 2-8 long turns, and image samples that are
either VQA-style (1-12 short question/answer pairs, as VQAv2/GQA/OCR-VQA/RefCOCO rows) or
LLaVA-Instruct-style (1-4 turns with answers of 20-200 words). Words come from a fixed list, so the
LLaMA-3 organism's tokenizer, through the backbone's own chat-format rendering, gives the token
lengths; each image adds 576 tokens (CLIP ViT-L/14-336). ``--json`` writes the records as LLaVA JSON.
Lengths are cut at max_length 2048, as the recipe cuts them. Cheap: no training.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

WORDS = ("the red cube is left of a small blue ball near green cone large yellow sphere on top under "
         "right behind what colour shape how many objects are there in image describe scene detail "
         "answer question because it which one bigger than all two three four").split()
GLOBAL, MICRO, MAX_LENGTH, IMAGE_TOKENS = 128, 16, 2048, 576  # LLaVA-1.5 finetune


def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def mixed_records(n: int, seed: int = 0) -> list[dict]:
    """LLaVA-format rows (id, image or none, conversations) of mixed modality and length."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.06:  # ShareGPT: text only, long
            turns, low, high, image = rng.randint(1, 4), 40, 400, None
        elif kind < 0.70:  # VQA-style: many short exchanges about one image
            turns, low, high, image = rng.randint(1, 12), 1, 4, f"img/{i}.jpg"
        else:  # LLaVA-Instruct: conversation, detail, reasoning
            turns, low, high, image = rng.randint(1, 4), 20, 200, f"img/{i}.jpg"
        conversation = []
        for t in range(turns):
            question = _text(rng, 4, 14) + "?"
            if t == 0 and image:
                question = "<image>\n" + question
            conversation += [{"from": "human", "value": question}, {"from": "gpt", "value": _text(rng, low, high)}]
        rows.append({"id": str(i), **({"image": image} if image else {}), "conversations": conversation})
    return rows


def token_lengths(rows: list[dict]) -> list[int]:
    """Tokens per row in the LLaMA-3 organism's chat format (image tokens included), cut at MAX_LENGTH."""
    from harness.lazy import load_ref
    from harness.plugin_manager import get_plugins

    spec = get_plugins().registry("backbones").entry("llama3").spec
    backbone = load_ref(spec.implementation)(spec.model_card)
    tokenizer = backbone.load_tokenizer()
    tokenizer.model_max_length = 10**9  # lengths are cut at MAX_LENGTH below, as the recipe cuts them
    out = []
    for row in rows:
        n = len(backbone.render(row["conversations"], tokenizer, row["id"], num_image_tokens=1).input_ids)
        out.append(min(MAX_LENGTH, n + (IMAGE_TOKENS - 1 if "image" in row else 0)))
    return out


def llava_micro_batches(order, lengths: list[int], step: int, rank: int) -> list[list[int]]:
    """LLaVA's own sampler: the global batch sorted longest first and dealt into world x accumulation
    micro-batches of even length totals (its split_to_even_chunks), each a rank's micro-batch in turn."""
    batch = sorted((order.sample(p) for p in range(step * order.global_batch, (step + 1) * order.global_batch)),
                   key=lambda i: abs(lengths[i]), reverse=True)
    chunks = order.accumulation * order.world_size
    groups, totals, size = [[] for _ in range(chunks)], [0.0] * chunks, len(batch) // chunks
    for i in batch:
        g = totals.index(min(totals))
        groups[g].append(i)
        totals[g] = totals[g] + abs(lengths[i]) if len(groups[g]) < size else float("inf")
    return [groups[rank * order.accumulation + k] for k in range(order.accumulation)]


def padding(micro_batches, tokens: list[int]) -> float:
    padded = total = 0
    for micro in micro_batches:
        longest = max(tokens[i] for i in micro)
        padded += sum(longest - tokens[i] for i in micro)
        total += longest * len(micro)
    return padded / total


def main() -> None:
    from harness_plugins.recipes.llava15.order import StageOrder
    from harness_plugins.recipes.llava15.samples import modality_length

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=8000)
    parser.add_argument("--json", type=Path, default=None, help="also write the records as LLaVA JSON here")
    args = parser.parse_args()
    rows = mixed_records(args.samples)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows))
    tokens = token_lengths(rows)
    lengths = [modality_length(r["conversations"], "image" in r) for r in rows]  # what the recipe groups by
    text_only = sum(1 for n in lengths if n < 0)
    print(f"{len(rows)} LLaVA-format samples ({text_only} text-only), {sum(tokens) / len(tokens):.0f} tokens on "
          f"average (min {min(tokens)}, max {max(tokens)}); global batch {GLOBAL}, micro-batch {MICRO}")
    print(f"{'world x accumulation':<22} {'plain shuffle':>14} {'LLaVA sampler':>14} {'recipe':>8}")
    for world in (1, 8):
        plain = StageOrder(len(rows), GLOBAL, MICRO, world, seed=0)
        grouped = StageOrder(len(rows), GLOBAL, MICRO, world, seed=0, lengths=lengths)
        steps = range(plain.total_steps)
        ranks = range(world)
        cells = [padding([mb for s in steps for r in ranks for mb in o.micro_batches(s, r)], tokens)
                 for o in (plain, grouped)]
        llava = padding([mb for s in steps for r in ranks for mb in llava_micro_batches(grouped, lengths, s, r)], tokens)
        print(f"{f'{world} x {GLOBAL // (MICRO * world)}':<22} {cells[0]:>14.1%} {llava:>14.1%} {cells[1]:>8.1%}")


if __name__ == "__main__":
    main()
