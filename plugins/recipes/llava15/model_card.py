"""The README written into an exported checkpoint: what was trained, and a complete plain-transformers
example (chat template, ``generate()``, decoding) that gives the answers ``harness_vlm`` gives.

The example is tested as written (extracted from a written README and run), so keep it runnable.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLE = '''\
import torch
from PIL import Image, ImageDraw
from transformers import AutoProcessor, LlavaForConditionalGeneration

path = {path}  # this folder
model = LlavaForConditionalGeneration.from_pretrained(path, dtype=torch.float32).eval()
processor = AutoProcessor.from_pretrained(path)

# Any RGB image and question; here a red circle, drawn as the scene world draws its objects.
image = Image.new("RGB", (64, 64), (230, 230, 225))
ImageDraw.Draw(image).ellipse((20, 20, 44, 44), fill=(220, 40, 40))
question = "What colour is the circle?\\nAnswer with a single word or number."

messages = [{{"role": "user", "content": [{{"type": "image"}}, {{"type": "text", "text": question}}]}}]
prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
inputs = processor(images=image, text=prompt, return_tensors="pt")
with torch.inference_mode():
    output = model.generate(**inputs, max_new_tokens=16, do_sample=False)  # stops at the turn end
answer = processor.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
print(answer)
'''


def usage_example(path: Path | str) -> str:
    """The README's Python example for the checkpoint in ``path``."""
    return EXAMPLE.format(path=json.dumps(str(path)))


def model_card(*, backbone: str, vision: str, data: str, recipe: str, training_hash: str,
               stages: list[dict[str, Any]], path: Path | str, turn_end: str | None = None) -> str:
    """The README of the export in ``path``: backbone, encoder, data, recipe, stages, and how to use it."""
    lines = [
        "---", "library_name: transformers", "pipeline_tag: image-text-to-text", "tags: [llava, harness]", "---", "",
        f"# LLaVA ({backbone} + {vision})", "",
        "A standard `LlavaForConditionalGeneration` checkpoint trained by the `harness` project.", "",
        f"- **LLM backbone:** {backbone}", f"- **Vision encoder:** {vision} (frozen)", f"- **Training data:** {data}",
        f"- **Recipe:** {recipe}", f"- **Training hash:** `{training_hash}`", "", "## Stages", "",
        "| stage | steps | first loss | final loss | tokens/s |", "|---|---|---|---|---|",
    ]
    for s in stages:
        first = f"{s['first_loss']:.4f}" if s.get("first_loss") is not None else "-"
        final = f"{s['final_loss']:.4f}" if s.get("final_loss") is not None else "-"
        lines.append(f"| {s['name']} | {s['steps']} | {first} | {final} | {s['tokens_per_s']:,.0f} |")
    stop = (f" The tokenizer's EOS is `{turn_end}`, the token that ends an assistant turn in this chat format, "
            "and `generation_config.json` lists every token `harness` stops at, so a tool that stops at the "
            "tokenizer's EOS (as lmms-eval's `llava_hf` does) ends answers at the turn end too." if turn_end else "")
    lines += [
        "", "## Use with transformers", "",
        "Greedy decoding with the processor's chat template gives the answers `harness` evaluates "
        "(with its lmms-eval model `harness_vlm`)." + stop, "",
        "```python", usage_example(path).rstrip("\n"), "```", "",
        "## Evaluate with lmms-eval", "",
        "lmms-eval's own `llava_hf` model reads the checkpoint as it is (it needs `decord` installed):", "",
        f"    python -m lmms_eval --model llava_hf --model_args pretrained={path},device=cpu,device_map=cpu,dtype=float32 \\",
        "        --tasks <task> --output_path out/", "",
    ]
    return "\n".join(lines)
