"""Can the LLM organism answer a scene question from a perfect text description of the scene?

The LLM side of the chain, measured on its own. A VLM answers "What colour is the large circle?" by
finding the circle among the image tokens in its context and copying out its colour. Give the LLM the
scene's exact description in words instead ("There are three objects. A large orange circle on the
left. ...") and the same question: what it cannot read out of perfect words it will not read out of
image tokens, so this is a ceiling on what any finetune of the VLM can reach with this LLM.

Two measurements, on scenes of their own seed (no split shares them):

* **zero-shot**: the organism as shipped, prompted in its pretraining corpus's own form
  (``<description> Question: ... Answer:``), against the same prompt without the description. Equal
  scores mean the organism answers from the question's prior, not from what it reads.
* **learning curve** (``--steps N``): the organism finetuned on fresh text-only examples of exactly
  that form (AdamW, loss on the answer only, ``--batch`` examples a step), held-out accuracy per
  question type as it learns: how many examples the LLM needs to learn to read, with nothing visual
  in the way.

    python benchmarks/reading_ceiling.py                               # zero-shot, the three organisms
    python benchmarks/reading_ceiling.py --backbone llama3 --steps 400 # and the learning curve
    python benchmarks/reading_ceiling.py --backbone DIR                # any causal-LM folder

A benchmark, not a test: it prints numbers. One thread (``torch.set_num_threads(1)``).
"""
from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ORGANISMS = Path(__file__).resolve().parents[1] / "plugins" / "organisms"
SHOWN = ("colour", "shape", "exists", "count", "compare", "spatial", "composition")


def prompt(description: str | None, question: str) -> str:
    """The pretraining corpus's own question form, with the scene's description before it or not."""
    return (f"{description} " if description else "") + f"Question: {question} Answer:"


def items(seed: int, count: int, per_scene: int) -> list[tuple[str, str, str, str]]:
    """``count`` (description, question, answer, type), ``per_scene`` from each fresh scene of ``seed``."""
    from harness_plugins.scene.world import describe, generate_scene, vqa_questions

    rng = random.Random(seed)
    out: list[tuple[str, str, str, str]] = []
    while len(out) < count:
        scene = generate_scene(rng)
        out += [(describe(scene), q.question, q.answer, q.qtype) for q in vqa_questions(scene, rng, per_scene)]
    return out[:count]


def accuracy(model: Any, tokenizer: Any, rows: list[tuple[str, str, str, str]], read: bool) -> dict[str, float]:
    """Greedy answers (at most 4 new tokens, up to the first full stop) scored by the scene tasks' own
    exact match, per question type."""
    import torch

    from harness_plugins.scene.metrics import exact_match

    hits: dict[str, list[bool]] = defaultdict(list)
    model.eval()
    for description, question, answer, qtype in rows:
        ids = tokenizer(prompt(description if read else None, question), return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        said = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).split(".")[0]
        hits[qtype].append(bool(exact_match(said, answer)))
    model.train()
    return {q: sum(v) / len(v) for q, v in hits.items()} | {"all": sum(map(sum, hits.values())) / len(rows)}


def batch(tokenizer: Any, rows: list[tuple[str, str, str, str]]) -> tuple[Any, Any]:
    """Input ids and labels (the answer and its full stop only) of one training batch."""
    import torch

    seqs, starts = [], []
    for description, question, answer, _ in rows:
        head = tokenizer(prompt(description, question)).input_ids
        seqs.append(head + tokenizer(f" {answer}.", add_special_tokens=False).input_ids)
        starts.append(len(head))
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), tokenizer.eos_token_id)
    labels = torch.full((len(seqs), width), -100)
    for i, (seq, start) in enumerate(zip(seqs, starts)):
        ids[i, :len(seq)] = torch.tensor(seq)
        labels[i, start:len(seq)] = torch.tensor(seq[start:])
    return ids, labels


def row(label: str, scores: dict[str, float]) -> str:
    return f"{label:<28}" + "".join(f"{scores.get(q, float('nan')):>12.2f}" for q in SHOWN + ("all",))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", action="append", default=None,
                        help="organism name or causal-LM folder (repeatable; default: the three organisms)")
    parser.add_argument("--heldout", type=int, default=300, help="held-out questions (two per scene)")
    parser.add_argument("--steps", type=int, default=0, help="finetune steps of the learning curve (0: none)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=32, help="examples per finetune step")
    parser.add_argument("--every", type=int, default=100, help="evaluate every this many steps")
    parser.add_argument("--seed", type=int, default=99)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    heldout = items(args.seed, args.heldout, 2)
    print(f"{len(heldout)} held-out questions; exact match per type")
    print(f"{'':<28}" + "".join(f"{q:>12}" for q in SHOWN + ("all",)))
    for name in args.backbone or ["llama1", "llama2", "llama3"]:
        folder = Path(name) if "/" in name else ORGANISMS / name
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder))
        print(row(f"{folder.name} question only", accuracy(model, tokenizer, heldout, read=False)))
        print(row(f"{folder.name} reads description", accuracy(model, tokenizer, heldout, read=True)), flush=True)
        if not args.steps:
            continue
        torch.manual_seed(0)
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
        stream = items(args.seed + 1, args.steps * args.batch, 1)  # fresh scenes, one question each
        start = time.perf_counter()
        for step in range(1, args.steps + 1):
            ids, labels = batch(tokenizer, stream[(step - 1) * args.batch:step * args.batch])
            loss = model(input_ids=ids, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % args.every == 0 or step == args.steps:
                scores = accuracy(model, tokenizer, heldout, read=True)
                print(row(f"  after {step * args.batch:,} examples", scores)
                      + f"   loss {loss.item():.3f}  {time.perf_counter() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
