"""benchmarks/reading_ceiling.py: the finetune supervises the answer alone, the prompt carries the scene's
description only when it should, and the script prints a zero-shot row pair and a learning-curve row."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reading_ceiling.py"
LLAMA1 = Path(__file__).resolve().parents[2] / "plugins" / "organisms" / "llama1"


def _module():
    spec = importlib.util.spec_from_file_location("reading_ceiling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_the_answer_and_its_full_stop_are_supervised():
    from transformers import AutoTokenizer

    ceiling = _module()
    tokenizer = AutoTokenizer.from_pretrained(str(LLAMA1))
    rows = ceiling.items(seed=3, count=6, per_scene=2)
    assert len(rows) == 6 and len({r[0] for r in rows}) == 3  # two questions on each of three scenes
    ids, labels = ceiling.batch(tokenizer, rows)
    for i, (description, question, answer, _) in enumerate(rows):
        supervised = [int(t) for t, label in zip(ids[i], labels[i]) if label != -100]
        assert supervised == [int(label) for label in labels[i] if label != -100]
        assert tokenizer.decode(supervised).strip() == f"{answer}."
        first = int((labels[i] != -100).nonzero()[0])
        assert tokenizer.decode(ids[i, :first], skip_special_tokens=True).strip() == \
            ceiling.prompt(description, question)


def test_the_question_only_prompt_drops_the_description():
    ceiling = _module()
    assert ceiling.prompt(None, "Is there a red circle in the image?") == \
        "Question: Is there a red circle in the image? Answer:"
    assert ceiling.prompt("There is one object.", "Q?").startswith("There is one object. Question: Q?")


def test_it_prints_both_zero_shot_rows_and_a_learning_curve_row():
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--backbone", "llama1", "--heldout", "12", "--steps", "2",
                           "--every", "2"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for label in ("llama1 question only", "llama1 reads description", "after 64 examples"):
        line = next(line for line in lines if label in line)
        scores = [float(x) for x in re.findall(r"\s(\d\.\d\d)(?=\s|$)", line.split(label, 1)[1].split("loss")[0])]
        assert len(scores) >= 4 and all(0.0 <= s <= 1.0 for s in scores), line
