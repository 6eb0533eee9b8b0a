"""Batched inference of the engine gives what one-at-a-time inference gives, with real confidences."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.evaluation.engine import VLMEngine, cut_at
from harness.evaluation.synthetic import scene_rows

QUESTIONS = ["what colour is the image ?", "how many shapes are there in this image ? answer with one word",
             "colour ?", "is there a red circle or a blue square in the image ? describe the shape"]


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    return VLMEngine(tiny_checkpoint)


@pytest.fixture(scope="module")
def images():
    return [[row["image"]] for row in scene_rows(len(QUESTIONS), seed=3)]


def test_left_padded_batch_generates_what_batch_one_generates(engine, images):
    batched = engine.generate(QUESTIONS, images, max_new_tokens=6, hidden_states=True)
    for question, image, answer in zip(QUESTIONS, images, batched):
        single = engine.generate([question], [image], max_new_tokens=6, hidden_states=True)[0]
        assert answer.text == single.text
        assert answer.sequence_prob == pytest.approx(single.sequence_prob, rel=1e-4)
        np.testing.assert_allclose(answer.hidden_states.astype(np.float32), single.hidden_states.astype(np.float32), atol=2e-3)


def test_first_token_probability_is_the_models_softmax_at_the_answer_position(engine, images):
    answer = engine.generate(QUESTIONS[:1], images[:1], max_new_tokens=4)[0]
    inputs = engine._encode([engine.render(QUESTIONS[0], 1)], images[:1])
    with torch.no_grad():
        logits = engine.model(**inputs).logits[0, -1].float()
    probs = logits.softmax(-1)
    assert answer.first_token_prob == pytest.approx(float(probs.max()), rel=1e-4)  # greedy: the top token
    assert 0.0 < answer.sequence_prob <= 1.0


def test_hidden_states_cover_every_layer_at_the_answer_position(engine, images, tiny_checkpoint):
    answer = engine.generate(QUESTIONS[:1], images[:1], max_new_tokens=2, hidden_states=True)[0]
    text = engine.model.config.text_config
    assert answer.hidden_states.shape == (text.num_hidden_layers + 1, text.hidden_size)
    assert answer.hidden_states.dtype == np.float16
    inputs = engine._encode([engine.render(QUESTIONS[0], 1)], images[:1])
    with torch.no_grad():
        states = engine.model(**inputs, output_hidden_states=True).hidden_states
    np.testing.assert_allclose(answer.hidden_states[-1].astype(np.float32), states[-1][0, -1].numpy(), atol=2e-3)


def test_batched_loglikelihood_equals_one_at_a_time(engine, images):
    continuations = [" red", " blue green", " yellow square circle", " 3"]
    batched = engine.loglikelihood(QUESTIONS, continuations, images)
    for q, c, im, got in zip(QUESTIONS, continuations, images, batched):
        single = engine.loglikelihood([q], [c], [im])[0]
        assert got[0] == pytest.approx(single[0], abs=1e-4)
        assert got[1] == single[1]
        assert got[0] < 0


def test_prompt_uses_the_checkpoint_chat_template_with_one_image_token(engine):
    prompt = engine.render("what colour is the image ?", 1)
    assert prompt.startswith("<s>[INST] ") and prompt.endswith(" [/INST]")
    assert prompt.count("<image>") == 1


def test_stop_strings_cut_the_answer():
    assert cut_at("red . blue", ["."]) == "red "
    assert cut_at("red", ["\n\n"]) == "red"


STRING_ONLY_TEMPLATE = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}USER: {{ m['content'] }}"
                        "{% else %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
                        "{% if add_generation_prompt %} ASSISTANT:{% endif %}")


def test_a_template_for_string_content_gets_the_image_token_in_the_text(tiny_checkpoint, tmp_path):
    import shutil

    copy = shutil.copytree(tiny_checkpoint, tmp_path / "vicuna")
    (copy / "chat_template.jinja").write_text(STRING_ONLY_TEMPLATE)
    prompt = VLMEngine(copy).render("what colour is the image ?", 1)
    assert prompt == "<s>USER: <image>\nwhat colour is the image ? ASSISTANT:"


def test_out_of_device_memory_says_to_lower_the_batch_size():
    import torch

    from harness.errors import HarnessError
    from harness.evaluation.model import out_of_memory_hint

    with pytest.raises(HarnessError, match=r"out of memory evaluating a batch of 32; lower eval.batch_size \(now 32"):
        with out_of_memory_hint(32):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
