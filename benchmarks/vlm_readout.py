"""A trained VLM on the patch reader's own questions, and the finetune data that matches the reader's.

``score``: a VLM checkpoint folder (a run's exported ``model/``) answers the held-out questions of
``patch_readout.py`` (the same scenes, seed and questions as ``--seed S --scenes N --heldout M``), scored as
the reader is: the answer's first token, argmax over the vocabulary, after the VLM's own chat prompt
(``patch_readout.py --chat``). 400 questions per type instead of the validation split's 42-55, and the
numbers sit beside the reader's learning curves.

``perception-data``: the colour, shape and exists exchanges of the default build's short-answer questions
(``data.scene_questions``), one exchange a record with its image, as a ``datasets`` folder for
``data.train=DIR`` (with ``data.align=`` the scene build's ``align`` folder): the VLM finetuned on what the
reader learns from and nothing else.

    python benchmarks/vlm_readout.py score $HARNESS_HOME/checkpoints/<hash>/model --backbone llama3
    python benchmarks/vlm_readout.py perception-data --home $HARNESS_HOME --out perception

A benchmark, not a test: it prints numbers.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from patch_readout import QTYPES, chat_encoded, questions  # noqa: E402


def score(folder: Path, backbone: str, seed: int = 4242, scenes: int = 3000, heldout: int = 400,
          batch: int = 64) -> dict[str, tuple[float, int]]:
    """qtype -> (first-token accuracy, questions) of the checkpoint on the reader's held-out questions."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from harness_plugins.scene.model import generate_scene
    from harness_plugins.scene.world import render
    from harness_plugins.vision.organism import pixel_values

    rng = random.Random(seed)
    world = [generate_scene(rng, image_size=64) for _ in range(scenes + heldout)]
    items = [item for item in questions(world, seed) if item[0] >= scenes]
    prefix, encoded = chat_encoded(backbone, items)
    model = LlavaForConditionalGeneration.from_pretrained(str(folder)).eval()
    processor = AutoProcessor.from_pretrained(str(folder))
    image_id = getattr(model.config, "image_token_id", None) or model.config.image_token_index
    vision = model.config.vision_config
    size, n_image = int(vision.image_size), (int(vision.image_size) // int(vision.patch_size)) ** 2  # CLS dropped
    hits: dict[str, list[bool]] = defaultdict(list)
    with torch.no_grad():
        for start in range(0, len(encoded), batch):
            rows = encoded[start:start + batch]
            pixels = pixel_values([render(world[r[0]]) for r in rows], processor.image_processor, size)
            logits = prompt_logits(model, [prefix + [image_id] * n_image + r[1] for r in rows], pixels)
            for row, predicted in zip(rows, logits.argmax(-1).tolist()):
                hits[row[3]].append(predicted == row[2])
    return {t: (sum(hits[t]) / len(hits[t]), len(hits[t])) for t in QTYPES if hits[t]}


def prompt_logits(model: Any, prompts: list[list[int]], pixels: Any) -> Any:
    """[rows, vocabulary]: the logits after each prompt's last token, the prompts left-padded into one batch
    with positions counted over real tokens (as each would run alone)."""
    import torch

    width = max(map(len, prompts))
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros(len(prompts), width, dtype=torch.long)
    for j, ids_j in enumerate(prompts):
        ids[j, width - len(ids_j):], mask[j, width - len(ids_j):] = torch.tensor(ids_j), 1
    return model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                 pixel_values=pixels).logits[:, -1]


def perception_data(home: Path, out: Path, seed: int = 0, k: int = 8, sizes: Any = None) -> dict[str, int]:
    """Write the perception exchanges of the k-questions build of ``home`` to ``out``; returns counts per type.
    ``sizes`` (SceneDataSizes): for tests; the default build otherwise."""
    import datasets

    from harness_plugins.scene.dataset import QUESTIONS_SPLIT, ensure_question_data
    from harness_plugins.scene.language import PERCEPTION_TYPES

    source = datasets.load_from_disk(str(ensure_question_data(home / "data" / "scene", seed, k, sizes) / QUESTIONS_SPLIT))
    rows: dict[str, list[Any]] = {"id": [], "image": [], "conversations": []}
    counts: dict[str, int] = defaultdict(int)
    for row in source:
        for j, qtype in enumerate(row["qtypes"]):
            if qtype in PERCEPTION_TYPES:
                human, gpt = dict(row["conversations"][2 * j]), dict(row["conversations"][2 * j + 1])
                if "<image>" not in human["value"]:
                    human["value"] = "<image>\n" + human["value"]
                rows["id"].append(f"{row['id']}/{j}")
                rows["image"].append(row["image"])
                rows["conversations"].append([human, gpt])
                counts[qtype] += 1
    features = source.features.copy()
    del features["qtypes"]
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(out))
    return dict(counts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="a VLM checkpoint on the patch reader's held-out questions")
    s.add_argument("checkpoint", type=Path, help="an exported VLM folder (a run's checkpoints/<hash>/model)")
    s.add_argument("--backbone", required=True, help="its backbone (the chat format): llama1, llama2, llama3")
    s.add_argument("--seed", type=int, default=4242, help="patch_readout.py's --seed")
    s.add_argument("--scenes", type=int, default=3000, help="patch_readout.py's --scenes")
    s.add_argument("--heldout", type=int, default=400, help="patch_readout.py's --heldout")
    p = sub.add_parser("perception-data", help="the colour, shape and exists exchanges as a data.train folder")
    p.add_argument("--home", type=Path, required=True, help="HARNESS_HOME whose scene build to read (built if absent)")
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.command == "score":
        if not (args.checkpoint / "config.json").is_file():
            parser.error(f"{args.checkpoint} is not an exported checkpoint folder (no config.json): "
                         "give a run's checkpoints/<hash>/model")
        result = score(args.checkpoint, args.backbone, args.seed, args.scenes, args.heldout)
        print(f"{args.checkpoint} ({args.backbone}) on patch_readout.py --seed {args.seed} held-out questions: "
              + ", ".join(f"{t} {v:.3f} (n={n})" for t, (v, n) in result.items())
              + f" ({time.perf_counter() - started:.0f}s)")
    else:
        if args.out.exists():
            parser.error(f"{args.out} exists: give a new folder")
        counts = perception_data(args.home, args.out)
        print(f"{sum(counts.values())} exchanges ({', '.join(f'{t} {n}' for t, n in counts.items())}) in {args.out}")


if __name__ == "__main__":
    main()
