"""benchmarks/patch_readout.py: the reader learns from patch tokens that carry the answer (the oracle
control beats the colour and shape majority answers by far), and runs on the shipped CLIP organism; its
causal readers (the 2-layer one masked, a causal-LM organism) answer from what precedes the answer alone."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "patch_readout.py"


def _run(*args: str) -> str:
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def _last_scores(out: str) -> dict[str, float]:
    rows = [line.split() for line in out.splitlines() if re.match(r"\s*\d+\s+\d+\s+[\d.]+", line)]
    return dict(zip(("colour", "shape", "exists"), map(float, rows[-1][2:5])))


def _majority(out: str) -> dict[str, float]:
    line = next(line for line in out.splitlines() if line.startswith("majority answer"))
    return {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+)", line.split(":", 1)[1])}


def test_the_reader_learns_from_perfect_patch_tokens():
    out = _run("--oracle", "--scenes", "800", "--heldout", "300", "--steps", "120", "--every", "120")
    scores, majority = _last_scores(out), _majority(out)
    # 120 steps (7,680 questions, 40 s on one core): colour and shape far above their majority answer
    # (0.54 / 0.62 against 0.16 / 0.27 measured); exists, which needs a colour and a shape bound to one patch,
    # is learned last (0.62 after 19,200 questions) and is not asserted at this budget
    for qtype in ("colour", "shape"):
        assert scores[qtype] > majority[qtype] + 0.25, (qtype, scores, majority)


@pytest.mark.parametrize("schedule", ["none", "cosine", "constant"])
def test_the_reader_trains_under_the_recipes_learning_rate_schedule(schedule):
    """--schedule S: each step's rate is 1e-3 times the recipe's factor (warmup 3%, then S) at that step;
    none: 1e-3 throughout."""
    from harness_plugins.recipes.llava15.stage import cosine_with_warmup

    out = _run("--oracle", "--scenes", "64", "--heldout", "32", "--steps", "12", "--every", "1", "--schedule", schedule)
    rates = [float(line.split()[-1]) for line in out.splitlines() if re.match(r"\s*\d+\s+\d+\s+[\d.]+", line)]
    factor = (lambda step: 1.0) if schedule == "none" else cosine_with_warmup(12, 0.03, schedule)
    assert rates == pytest.approx([1e-3 * factor(step) for step in range(12)], rel=1e-3)
    assert (rates[-1] < 1e-4) == (schedule == "cosine")


def test_it_reads_the_shipped_organism():
    out = _run("--scenes", "64", "--heldout", "32", "--steps", "2", "--every", "1")
    assert "plugins/organisms/clip read bidirectionally: patch tokens (96, 64, 64)" in out
    assert len(_last_scores(out)) == 3


def test_a_causal_lm_organism_reads_the_shipped_organism():
    out = _run("--llm", "llama1", "--scenes", "64", "--heldout", "32", "--steps", "2", "--every", "1")
    assert "read by llama1 (causal LM): patch tokens (96, 64, 64)" in out
    assert len(_last_scores(out)) == 3


def _module():
    spec = importlib.util.spec_from_file_location("patch_readout", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("question_first", [False, True], ids=["image-first", "question-first"])
@pytest.mark.parametrize("reader", ["causal", "llm"])
def test_a_causal_reader_answers_from_the_image_and_its_question_only(reader, question_first):
    """A question's answer is the same alone and right-padded in a batch with a longer question (image
    first, the padding comes after its last word; question first, it lies between the question and the
    image and is masked out: a reader that is not causal, masks wrongly or reads the wrong position sees
    it), and changes with the question's last word and with the image."""
    import torch

    module = _module()
    torch.manual_seed(0)
    if reader == "llm":
        model, _ = module.build_llm_reader(SCRIPT.parents[1] / "plugins" / "organisms" / "llama1", 64,
                                           question_first=question_first)
    else:
        model = module.build_reader(n_words=20, n_answers=7, feature_width=64, patches=16, causal=True,
                                    question_first=question_first)
    model.eval()
    tokens = torch.randn(2, 16, 64)
    short, long = torch.tensor([3, 5, 7, 2, 9]), torch.tensor([4, 6, 8, 1, 10, 11, 12, 13, 14])
    words = torch.full((2, 9), 19)
    words[0, :5], words[1] = short, long
    pad = torch.ones(2, 9, dtype=torch.bool)
    pad[0, :5] = pad[1] = False
    with torch.no_grad():
        batched = model(tokens, words, pad)[0]
        alone = model(tokens[:1], short[None], torch.zeros(1, 5, dtype=torch.bool))[0]
        other_word = model(tokens[:1], torch.tensor([[3, 5, 7, 2, 15]]), torch.zeros(1, 5, dtype=torch.bool))[0]
        other_image = model(tokens[1:], short[None], torch.zeros(1, 5, dtype=torch.bool))[0]
    assert torch.allclose(batched, alone, atol=1e-5)
    assert not torch.allclose(other_word, alone, atol=1e-3)
    assert not torch.allclose(other_image, alone, atol=1e-3)


def test_noisy_oracle_tokens_are_wrong_per_patch_at_the_rates_asked_and_otherwise_the_oracle():
    """Each patch under an object keeps one colour, one shape and one size; the shape is wrong on about
    the fraction asked, colour and size never; no noise gives the plain oracle."""
    import random

    import torch

    from harness_plugins.scene.model import generate_scene
    from harness_plugins.scene.world import SHAPES
    from harness_plugins.vision.probe import single_owner_patches

    module = _module()
    rng = random.Random(3)
    scenes = [generate_scene(rng, image_size=64) for _ in range(300)]
    plain = module.oracle_tokens(scenes)
    assert torch.equal(module.oracle_tokens(scenes, noise=(0.0, 0.0, 0.0), seed=9), plain)
    noisy = module.oracle_tokens(scenes, noise=(0.0, 0.3, 0.0), seed=9)
    assert torch.equal(noisy[..., :10], plain[..., :10]) and torch.equal(noisy[..., 20:], plain[..., 20:])
    wrong = total = 0
    for i, scene in enumerate(scenes):
        for patch, obj in single_owner_patches(scene, 8).items():
            assert noisy[i, patch, 10:20].sum() == 1
            wrong += int(noisy[i, patch, 10 + SHAPES.index(obj.shape)] == 0)
            total += 1
    assert total > 1000 and 0.26 < wrong / total < 0.34, (wrong, total)


def test_question_first_needs_a_causal_reader_and_runs_with_each():
    done = subprocess.run([sys.executable, str(SCRIPT), "--question-first"], capture_output=True, text=True)
    assert done.returncode == 2 and "add --causal or --llm NAME" in done.stderr.splitlines()[-1]
    for reader in (["--causal"], ["--llm", "llama1"]):
        out = _run(*reader, "--question-first", "--scenes", "64", "--heldout", "32", "--steps", "2", "--every", "1")
        assert ", the question first: patch tokens (96, 64, 64)" in out and len(_last_scores(out)) == 3


def test_a_bad_noise_level_is_one_line_naming_the_fix():
    done = subprocess.run([sys.executable, str(SCRIPT), "--oracle-noise", "0.1,2"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "give three probabilities in [0, 1) for colour, shape, size" in done.stderr.splitlines()[-1]


@pytest.mark.parametrize("backbone, before, after", [
    ("llama1", "USER: ", "Answer with a single word or number. ASSISTANT:"),
    ("llama3", "<|start_header_id|>user<|end_header_id|>\n\n",
     "Answer with a single word or number.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
])
def test_the_chat_reader_reads_the_question_as_the_vlm_is_trained_on_it(backbone, before, after):
    """--chat: the ids around the patches are the backbone's chat format with the short-answer hint, the
    target the answer's first supervised id, as the recipe renders a finetune exchange."""
    from transformers import AutoTokenizer

    prefix, encoded = _module().chat_encoded(backbone, [(5, "What colour is the circle?", "red", "colour"),
                                                        (6, "Is there a square?", "yes", "exists")])
    tokenizer = AutoTokenizer.from_pretrained(str(SCRIPT.parents[1] / "plugins" / "organisms" / backbone))
    assert tokenizer.decode(prefix).endswith(before)
    (scene, suffix, answer, qtype), other = encoded
    assert (scene, qtype) == (5, "colour") and other[0] == 6
    assert tokenizer.decode(suffix) == "\nWhat colour is the circle?\n" + after
    assert tokenizer.decode([answer]).strip() == "red" and tokenizer.decode([other[2]]).strip() in ("yes", "y")


def test_chat_needs_an_llm_reader_and_runs_with_one():
    done = subprocess.run([sys.executable, str(SCRIPT), "--chat"], capture_output=True, text=True)
    assert done.returncode == 2 and "--chat renders the VLM's own prompt for an --llm reader" in done.stderr.splitlines()[-1]
    out = _run("--llm", "llama1", "--chat", "--scenes", "64", "--heldout", "32", "--steps", "2", "--every", "1")
    assert "read by llama1 (causal LM), in the VLM's chat format: patch tokens (96, 64, 64)" in out
    assert len(_last_scores(out)) == 3
