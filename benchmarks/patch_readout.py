"""Can a reader learn the scene answers from a vision tower's patch tokens, and how many examples does it take?

The linear probe (:mod:`harness_plugins.vision.probe`) pools each object's patches by its true box: it
says the information is in the tokens. A VLM has no box: its LLM must find the object by attending to
patches and then read it. This benchmark measures that link on its own: a 2-layer transformer, trained
from scratch, reads the tower's frozen feature-layer patch tokens (CLS dropped, as LLaVA's projector
gets them) together with the question's words, and classifies the answer of colour, shape and exists
questions on scenes it never saw. Its learning curve (held-out accuracy per question type against
examples seen, beside each type's majority answer) is the budget a VLM's finetune needs at the least.

``--oracle`` replaces the tower's tokens by perfect ones (each patch under an object carries its
colour, shape and size one-hot): the same reader's curve then says how much of the budget is the
encoder's and how much is learning to attend. ``--oracle-noise C,S,Z`` makes each patch's colour, shape
and size wrong with those probabilities: oracle tokens exactly as accurate per patch as a tower's
per-patch probe, to ask how accurate a tower's patches must be for the reader to bind.

The default reader is bidirectional: its patch tokens see the question. A VLM's are not: its LLM reads
the image before the question, causally. ``--causal`` masks the same reader causally (image, then the
question; the answer read at the question's last word), and ``--llm NAME|DIR`` makes the reader a
causal-LM organism itself (a fresh 2-layer projector, then ``BOS, patches, " Question: ... Answer:"``,
the answer's first token predicted by its LM head over the whole vocabulary): the VLM's reading
without the VLM's recipe around it. ``--question-first`` puts the question before the image for either
causal reader (``question, patches``; the LLM: ``BOS, " Question: ...", patches, " Answer:"``, its padding
masked out): causal still, but every patch token now sees the question, as the
bidirectional reader's do, so a reader can look for the object the question names while it reads the image.
``--chat`` (``--llm`` only) gives the LLM reader the VLM's own prompt instead of its pretraining form: the
backbone's chat format and the short-answer hint around the patches, rendered by the recipe, the target the
answer's first supervised token.

    python benchmarks/patch_readout.py                          # the shipped CLIP organism
    python benchmarks/patch_readout.py --encoder DIR --steps 3000
    python benchmarks/patch_readout.py --oracle
    python benchmarks/patch_readout.py --causal --oracle --scenes 3000 --heldout 400
    python benchmarks/patch_readout.py --llm llama3 --scenes 3000 --heldout 400
    python benchmarks/patch_readout.py --llm llama3 --scenes 3000 --heldout 400 --schedule cosine
    python benchmarks/patch_readout.py --llm llama3 --oracle-noise 0.02,0.11,0.05 --scenes 3000 --heldout 400
    python benchmarks/patch_readout.py --llm llama3 --question-first --scenes 3000 --heldout 400
    python benchmarks/patch_readout.py --llm llama3 --chat --scenes 3000 --heldout 400

A benchmark, not a test: it prints numbers. Scenes come from their own seed, not from any split.
"""
from __future__ import annotations

import argparse
import random
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

QTYPES = ("colour", "shape", "exists")
SHIPPED = Path(__file__).resolve().parents[1] / "plugins" / "organisms" / "clip"


def patch_tokens(folder: Path, scenes: list[Any], feature_layer: int = -2) -> Any:
    """[n_scenes, patches, hidden]: the frozen tower's feature-layer tokens, CLS dropped."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionModel

    from harness_plugins.scene.world import render
    from harness_plugins.vision.organism import pixel_values

    tower = CLIPVisionModel.from_pretrained(str(folder)).eval()
    processor = CLIPImageProcessor.from_pretrained(str(folder))
    size = int(tower.config.image_size)
    chunks = []
    for start in range(0, len(scenes), 128):
        pixels = pixel_values([render(s) for s in scenes[start:start + 128]], processor, size)
        with torch.no_grad():
            chunks.append(tower(pixel_values=pixels, output_hidden_states=True).hidden_states[feature_layer][:, 1:])
    return torch.cat(chunks)


def oracle_tokens(scenes: list[Any], grid: int = 8, width: int = 64, noise: tuple[float, float, float] = (0.0, 0.0, 0.0),
                  seed: int = 0) -> Any:
    """Perfect patch tokens: colour, shape and size one-hot (and an object flag) under each object's box.

    ``noise``: per patch, the probability that its colour, shape and size one-hot names a random other
    value instead (independently per patch and attribute, seeded): tokens as accurate per patch as a
    tower's per-patch probe, with the errors spread evenly."""
    import torch

    from harness_plugins.scene.world import COLOURS, SHAPES, SIZES
    from harness_plugins.vision.probe import _object_patches

    rng = random.Random(seed)

    def value(values: Any, true: str, p: float) -> int:
        index = list(values).index(true)
        if p and rng.random() < p:
            return rng.choice([j for j in range(len(values)) if j != index])
        return index

    tokens = torch.zeros(len(scenes), grid * grid, width)
    for i, scene in enumerate(scenes):
        for obj in scene.objects:
            for patch in _object_patches(obj, grid):
                for offset, index in ((0, value(COLOURS, obj.colour, noise[0])), (10, value(SHAPES, obj.shape, noise[1])),
                                      (20, value(SIZES, obj.size, noise[2])), (30, 0)):
                    tokens[i, patch, offset + index] = 1.0
    return tokens


def noise_levels(text: str) -> tuple[float, float, float]:
    """``"C,S,Z"`` -> three probabilities in [0, 1) (argparse type of ``--oracle-noise``)."""
    try:
        levels = tuple(float(v) for v in text.split(","))
    except ValueError:
        levels = ()
    if len(levels) != 3 or not all(0.0 <= v < 1.0 for v in levels):
        raise argparse.ArgumentTypeError(f"{text!r}: give three probabilities in [0, 1) for colour, shape, size, "
                                         "for example 0.02,0.11,0.05")
    return levels  # type: ignore[return-value]


def questions(scenes: list[Any], seed: int) -> list[tuple[int, str, str, str]]:
    """(scene index, question, answer, qtype): one question of each type per scene where askable."""
    from harness_plugins.scene.language import ask

    rng = random.Random(seed)
    found = []
    for i, scene in enumerate(scenes):
        for qtype in QTYPES:
            q = ask(scene, qtype, rng)
            if q is not None:
                found.append((i, q.question, q.answer, qtype))
    return found


def build_reader(n_words: int, n_answers: int, feature_width: int, patches: int, width: int = 128,
                 causal: bool = False, question_first: bool = False) -> Any:
    """Projected patch tokens + position, question words + position -> 2 pre-norm layers -> answer logits:
    the mean over the question's positions (bidirectional), or the question's last position (``causal``:
    image first, every position sees only what precedes it), or the last patch's (``question_first``, causal:
    the question, then the image)."""
    import torch
    from torch import nn

    class Reader(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.project = nn.Sequential(nn.Linear(feature_width, width), nn.GELU(), nn.Linear(width, width))
            self.patch_pos = nn.Parameter(torch.randn(patches, width) * 0.02)
            self.words = nn.Embedding(n_words + 1, width)  # the last id pads
            self.word_pos = nn.Parameter(torch.randn(64, width) * 0.02)
            layer = nn.TransformerEncoderLayer(width, 4, 4 * width, 0.0, batch_first=True, norm_first=True)
            self.layers = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.out = nn.Linear(width, n_answers)

        def forward(self, tokens: Any, words: Any, pad: Any) -> Any:
            image, text = self.project(tokens) + self.patch_pos, self.words(words) + self.word_pos[: words.shape[1]]
            if question_first:  # causal, the padding masked as keys: the last patch has seen the question and the image
                x = torch.cat([text, image], 1)
                mask = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).triu(1)
                keys = torch.cat([pad, torch.zeros(tokens.shape[0], tokens.shape[1], dtype=torch.bool)], 1)
                h = self.layers(x, mask=mask, src_key_padding_mask=keys)
                return self.out(h[:, -1])
            x = torch.cat([image, text], 1)
            if causal:  # words are right-padded: the padding comes after the last word and cannot reach it
                mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
                h = self.layers(x, mask=mask, is_causal=True)
                return self.out(h[torch.arange(len(h)), last_position(tokens, pad)])
            mask = torch.cat([torch.zeros(tokens.shape[0], tokens.shape[1], dtype=torch.bool), pad], 1)
            h = self.layers(x, src_key_padding_mask=mask)[:, tokens.shape[1]:]
            keep = (~pad).unsqueeze(-1)
            return self.out((h * keep).sum(1) / keep.sum(1))

    return Reader()


def last_position(tokens: Any, pad: Any, prefix: int = 0) -> Any:
    """Per row, the sequence index of the question's last word: after ``prefix`` tokens and the patches."""
    return prefix + tokens.shape[1] + (~pad).sum(1) - 1


def build_llm_reader(folder: Path, feature_width: int, question_first: bool = False,
                     prefix: list[int] | None = None) -> tuple[Any, Any]:
    """(reader, tokenizer): a causal-LM organism reading ``BOS, projected patches, question ids``; its logits
    at the question's last token (``Answer:``) over the whole vocabulary. ``question_first``: the words are
    the question alone, its padding masked out (``BOS, " Question: ...", patches, " Answer:"``); the logits
    at ``Answer:``, the last position of every row. ``prefix``: the ids before the patches instead of ``BOS``
    (``--chat``: the chat format's, up to the image)."""
    import torch
    from torch import nn
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    lm = AutoModelForCausalLM.from_pretrained(str(folder))
    hidden = lm.config.hidden_size

    class LLMReader(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lm = lm
            self.project = nn.Sequential(nn.Linear(feature_width, hidden), nn.GELU(), nn.Linear(hidden, hidden))

        def forward(self, tokens: Any, words: Any, pad: Any) -> Any:
            embed = self.lm.get_input_embeddings()
            rows = tokens.shape[0]
            bos = embed(torch.tensor(prefix or [tokenizer.bos_token_id]).expand(rows, -1))
            if not question_first:
                h = self.lm.model(inputs_embeds=torch.cat([bos, self.project(tokens), embed(words)], 1)).last_hidden_state
                return self.lm.lm_head(h[torch.arange(len(h)), last_position(tokens, pad, prefix=bos.shape[1])])
            # BOS, question, its right padding (masked out: positions count real tokens), patches, " Answer:"
            answer = embed(torch.tensor(suffix).expand(rows, -1))
            x = torch.cat([bos, embed(words), self.project(tokens), answer], 1)
            keep = torch.cat([torch.ones(rows, 1, dtype=torch.bool), ~pad,
                              torch.ones(rows, tokens.shape[1] + len(suffix), dtype=torch.bool)], 1)
            positions = (keep.long().cumsum(1) - 1).clamp(min=0)
            h = self.lm.model(inputs_embeds=x, attention_mask=keep.long(), position_ids=positions).last_hidden_state
            return self.lm.lm_head(h[:, -1])

    suffix = tokenizer(" Answer:", add_special_tokens=False).input_ids

    return LLMReader(), tokenizer


def organism_name(folder: Path) -> str:
    """The backbone whose chat format an organism folder speaks: its build record's ``organism``."""
    import json

    try:
        return str(json.loads((folder / "build.json").read_text())["organism"])
    except (OSError, ValueError, KeyError):
        raise SystemExit(f"error: --chat needs to know the backbone of {folder}: give an organism name "
                         "(llama1, llama2, llama3) or a folder with its build.json") from None


def chat_encoded(backbone: str, items: list[tuple[int, str, str, str]]) -> tuple[list[int], list[Any]]:
    """(the ids before the image, [(scene, ids after the image up to the answer, the answer's first id, qtype)]):
    each question rendered exactly as the VLM's finetune renders it (the backbone plugin's chat format, the
    short-answer hint, the image token where the patches go), the answer's first supervised id the target."""
    from harness.cli.config_cmds import resolve_cells
    from harness_plugins.recipes.llava15.parts import build_parts
    from harness_plugins.scene.dataset import vqa_prompt

    (resolved,) = resolve_cells((f"backbone={backbone}",), multirun=False)
    parts = build_parts(resolved.config, "cpu")
    prefix, out = None, []
    for i, q, a, t in items:
        rendered = parts.render_finetune([{"from": "human", "value": f"<image>\n{vqa_prompt(q)}"},
                                          {"from": "gpt", "value": a}], f"readout-{i}")
        ids, labels = list(rendered.input_ids), list(rendered.labels)
        images = [k for k, v in enumerate(ids) if v == parts.image_token_id]
        answer = next(k for k, v in enumerate(labels) if v != -100)
        if prefix is None:
            prefix = ids[:images[0]]
        assert ids[:images[0]] == prefix, "the chat format's prefix differs between questions"
        out.append((i, ids[images[-1] + 1:answer], labels[answer], t))
    return prefix or [], out


def main(argv: list[str] | None = None) -> None:
    import torch
    import torch.nn.functional as F

    from harness_plugins.recipes.llava15.settings import Llava15Settings
    from harness_plugins.recipes.llava15.stage import SCHEDULES, cosine_with_warmup
    from harness_plugins.scene.model import generate_scene

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", type=Path, default=SHIPPED, help="a CLIP vision tower folder (default: the organism)")
    parser.add_argument("--oracle", action="store_true", help="perfect patch tokens instead of the tower's")
    parser.add_argument("--oracle-noise", type=noise_levels, default=None, metavar="C,S,Z",
                        help="oracle tokens whose colour, shape and size are wrong per patch with these probabilities")
    parser.add_argument("--scenes", type=int, default=6000, help="training scenes (600 more are held out)")
    parser.add_argument("--heldout", type=int, default=600)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--every", type=int, default=250, help="evaluate every this many steps")
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--causal", action="store_true", help="the 2-layer reader masked causally, image first")
    parser.add_argument("--llm", default=None, help="a causal-LM organism name or folder reads instead (causal)")
    parser.add_argument("--question-first", action="store_true",
                        help="a causal reader (--causal or --llm) reads the question before the image")
    parser.add_argument("--schedule", default="none", choices=("none", *SCHEDULES),
                        help="learning-rate schedule over --steps: none (1e-3 throughout), or the recipe's "
                             "(recipe.schedule, with its 3%% warmup)")
    parser.add_argument("--chat", action="store_true",
                        help="--llm only: the VLM's prompt (the backbone's chat format and short-answer hint, rendered "
                             "by the recipe) instead of the organism's pretraining form ' Question: ... Answer:'")
    args = parser.parse_args(argv)
    if args.chat and (not args.llm or args.question_first):
        parser.error("--chat renders the VLM's own prompt for an --llm reader, image first (no --question-first)")
    if args.question_first and not (args.causal or args.llm):
        parser.error("--question-first orders a causal reader's input: add --causal or --llm NAME")

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    scenes = [generate_scene(rng, image_size=64) for _ in range(args.scenes + args.heldout)]
    oracle = args.oracle or args.oracle_noise is not None
    tokens = oracle_tokens(scenes, noise=args.oracle_noise or (0.0, 0.0, 0.0), seed=args.seed) if oracle \
        else patch_tokens(args.encoder, scenes)
    items = questions(scenes, args.seed)
    vocab: dict[str, int] = {}
    answers: dict[str, int] = {}
    if args.llm:
        folder = Path(args.llm) if "/" in args.llm else SHIPPED.parent / args.llm
        prefix, encoded = chat_encoded(organism_name(folder), items) if args.chat else (None, None)
        reader, tokenizer = build_llm_reader(folder, tokens.shape[-1], question_first=args.question_first, prefix=prefix)
        pad_id = tokenizer.eos_token_id
        if encoded is None:  # the pretraining form
            prompt = " Question: {}" if args.question_first else " Question: {} Answer:"
            encoded = [(i, tokenizer(prompt.format(q), add_special_tokens=False).input_ids,
                        tokenizer(f" {a}", add_special_tokens=False).input_ids[0], t) for i, q, a, t in items]
    else:
        encoded = [(i, [vocab.setdefault(w, len(vocab)) for w in q.lower().replace("?", " ?").split()],
                    answers.setdefault(a, len(answers)), t) for i, q, a, t in items]
        reader = build_reader(len(vocab), len(answers), tokens.shape[-1], tokens.shape[1], causal=args.causal,
                              question_first=args.question_first)
        pad_id = len(vocab)
    train = [e for e in encoded if e[0] < args.scenes]
    test = [e for e in encoded if e[0] >= args.scenes]
    source = str(args.encoder) if not oracle else "oracle tokens" if args.oracle_noise is None else \
        "oracle tokens wrong per patch with p colour {:g}, shape {:g}, size {:g}".format(*args.oracle_noise)
    how = f"read by {args.llm} (causal LM)" if args.llm else "read causally" if args.causal else "read bidirectionally"
    how += ", the question first" if args.question_first else ""
    how += ", in the VLM's chat format" if args.chat else ""
    print(f"{source} {how}: patch tokens {tuple(tokens.shape)}, {len(train)} training and {len(test)} held-out questions "
          f"({time.perf_counter() - started:.0f}s)")
    majority = {}
    for qtype in QTYPES:
        top = Counter(a for _, _, a, t in train if t == qtype).most_common(1)[0][0]
        majority[qtype] = sum(a == top for _, _, a, t in test if t == qtype) / max(1, sum(t == qtype for *_, t in test))
    print("majority answer on held-out: " + ", ".join(f"{t} {v:.3f}" for t, v in majority.items()))

    def batch(rows: list[Any]) -> tuple[Any, Any, Any, Any]:
        width = max(len(r[1]) for r in rows)
        words = torch.full((len(rows), width), pad_id)
        pad = torch.ones(len(rows), width, dtype=torch.bool)
        for j, row in enumerate(rows):
            words[j, : len(row[1])] = torch.tensor(row[1])
            pad[j, : len(row[1])] = False
        return tokens[[r[0] for r in rows]], words, pad, torch.tensor([r[2] for r in rows])

    optimizer = torch.optim.AdamW(reader.parameters(), lr=1e-3)
    scheduler = None
    if args.schedule != "none":
        warmup = Llava15Settings().warmup_ratio
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(args.steps, warmup, args.schedule))

    def evaluate() -> dict[str, float]:
        reader.eval()
        hits: dict[str, list[bool]] = defaultdict(list)
        with torch.no_grad():
            for start in range(0, len(test), 256):
                rows = test[start:start + 256]
                feats, words, pad, labels = batch(rows)
                for row, ok in zip(rows, (reader(feats, words, pad).argmax(-1) == labels).tolist()):
                    hits[row[3]].append(ok)
        reader.train()
        return {t: sum(hits[t]) / len(hits[t]) for t in QTYPES if hits[t]}

    print(f"{'step':>6} {'examples':>9} " + " ".join(f"{t:>7}" for t in QTYPES) + "   train loss   lr")
    sampler = random.Random(args.seed + 1)
    for step in range(1, args.steps + 1):
        feats, words, pad, labels = batch(sampler.sample(train, args.batch))
        loss = F.cross_entropy(reader(feats, words, pad), labels)
        loss.backward()
        lr = optimizer.param_groups[0]["lr"]  # the rate this step uses
        optimizer.step()
        optimizer.zero_grad()
        if scheduler is not None:
            scheduler.step()
        if step % args.every == 0 or step == args.steps:
            scores = evaluate()
            print(f"{step:>6} {step * args.batch:>9} " + " ".join(f"{scores.get(t, float('nan')):>7.3f}" for t in QTYPES)
                  + f"   {loss.item():.3f}   {lr:.3e}")
    print(f"{time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
