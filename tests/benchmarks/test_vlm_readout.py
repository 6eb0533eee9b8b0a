"""benchmarks/vlm_readout.py: a VLM checkpoint scored on the patch reader's held-out questions the same
batched or one at a time (left padding and positions right), and the perception-only finetune data: the
colour, shape and exists exchanges of the question build, each with its image, nothing else."""
import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "vlm_readout.py"


def _module():
    sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("vlm_readout", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_checkpoint_scores_the_same_batched_and_alone(tmp_path):
    from harness.cli.config_cmds import resolve_cells
    from harness_plugins.recipes.llava15.export import export_checkpoint
    from harness_plugins.recipes.llava15.parts import build_parts

    (resolved,) = resolve_cells(("backbone=llama1",), multirun=False)
    parts = build_parts(resolved.config, "cpu")
    export_checkpoint(parts.build_model(), tmp_path / "model", processor=parts.processor, readme="test",
                      harness_meta={}, stop_token_ids=parts.stop_token_ids)
    import torch
    from transformers import LlavaForConditionalGeneration

    module = _module()
    batched = module.score(tmp_path / "model", "llama1", seed=7, scenes=4, heldout=12, batch=64)
    assert batched == module.score(tmp_path / "model", "llama1", seed=7, scenes=4, heldout=12, batch=1)
    assert set(batched) == {"colour", "shape", "exists"} and all(n >= 10 for _, n in batched.values())
    model = LlavaForConditionalGeneration.from_pretrained(str(tmp_path / "model")).eval()
    image = [model.config.image_token_id] * 64
    short, long = [1, 5] + image + [7, 8], [1, 5] + image + [9, 10, 11, 12, 13]
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        both = module.prompt_logits(model, [short, long], pixels)
        alone = module.prompt_logits(model, [short], pixels[:1])
    torch.testing.assert_close(both[0], alone[0], rtol=1e-4, atol=1e-5)  # the padded row reads as it would alone


def test_perception_data_keeps_the_colour_shape_and_exists_exchanges_each_with_its_image(tmp_path):
    import datasets

    from harness_plugins.scene.dataset import SceneDataSizes, question_rows

    sizes = SceneDataSizes(align=2, instruct=6, eval=1, validation=1, image_size=32)
    counts = _module().perception_data(tmp_path / "home", tmp_path / "out", seed=0, k=8, sizes=sizes)
    out = datasets.load_from_disk(str(tmp_path / "out"))
    expected = [(row["id"], t) for row in question_rows(0, 8, sizes) for t in row["qtypes"]]
    assert sum(counts.values()) == len(out) == sum(t in ("colour", "shape", "exists") for _, t in expected) > 0
    assert all(len(c) == 2 and c[0]["value"].startswith("<image>\n") for c in out["conversations"])
    assert {c[0]["value"].split("\n")[1].split()[0] for c in out["conversations"]} <= {"What", "Is", "Are"}
    assert out[0]["image"].size == (32, 32)
