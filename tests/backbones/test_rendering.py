"""Rendering conversations: labels cover exactly the assistant text plus the turn end, in every format."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.kinds.backbone import IGNORE_INDEX, IMAGE_TOKEN
from harness_plugins.backbones.render import render_conversation, render_prompt

GENERATIONS = ("llama1", "llama2", "llama3")
TURN_END = {"llama1": "</s>", "llama2": "</s>", "llama3": "<|eot_id|>"}

WORDS = ["the", "red", "cube", "is", "left", "of", "There", "are", "three", "objects", "Answer:", "yes", "no",
         '{"x": 0.35, "y": 0.65}', "7 + 5 = 12", "colour?", "ünïcödé", "漢字", "[INST]", "USER:", "'s", "...",
         IMAGE_TOKEN]
text = st.lists(st.one_of(st.sampled_from(WORDS), st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
                                                                        | st.just("\n"), max_size=8)),
                max_size=12).map(" ".join)
answer = text.filter(lambda s: IMAGE_TOKEN not in s)


@st.composite
def conversations(draw, turns=st.integers(1, 4)):
    conv = []
    if draw(st.booleans()):
        conv.append({"from": "system", "value": draw(answer)})
    for _ in range(draw(turns)):
        conv.append({"from": "human", "value": draw(text)})
        conv.append({"from": "gpt", "value": draw(answer)})
    return conv


def supervised_runs(rendered):
    runs, current = [], []
    for tid, label in zip(rendered.input_ids, rendered.labels):
        if label == IGNORE_INDEX:
            if current:
                runs.append(current)
            current = []
        else:
            assert label == tid
            current.append(tid)
    return runs + ([current] if current else [])


def squash(s: str) -> str:
    return "".join(s.split())


@pytest.mark.parametrize("generation", GENERATIONS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conv=conversations())
def test_labels_cover_exactly_assistant_text_and_turn_end(generation, conv, backbones, tokenizers):
    tokenizer = tokenizers[generation]
    rendered = backbones[generation].render(conv, tokenizer, "prop")
    runs = supervised_runs(rendered)
    answers = [t["value"].strip() for t in conv if t["from"] == "gpt"]
    assert len(runs) == len(answers)
    end = tokenizer.convert_tokens_to_ids(TURN_END[generation])
    for run, expected in zip(runs, answers):
        assert run[-1] == end
        assert squash(tokenizer.decode(run)) == squash(expected + TURN_END[generation])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(caption=answer, images=st.integers(1, 5))
@pytest.mark.parametrize("generation", GENERATIONS)
def test_plain_format_supervises_caption_and_eos_only(generation, caption, images, tokenizers):
    tokenizer = tokenizers[generation]
    conv = [{"from": "human", "value": f"{IMAGE_TOKEN}\nignored"}, {"from": "gpt", "value": caption}]
    rendered = render_conversation(conv, tokenizer, "plain", "p", num_image_tokens=images)
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    assert rendered.input_ids[1:1 + images] == [image_id] * images
    (run,) = supervised_runs(rendered)
    assert run[-1] == tokenizer.eos_token_id
    assert squash(tokenizer.decode(run)) == squash(caption.strip() + tokenizer.eos_token)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_image_placeholder_expands_to_image_tokens(generation, backbones, tokenizers):
    tokenizer = tokenizers[generation]
    conv = [{"from": "human", "value": f"{IMAGE_TOKEN}\nWhat colour is the cube?"}, {"from": "gpt", "value": "Red."}]
    ids = backbones[generation].render(conv, tokenizer, "img", num_image_tokens=7).input_ids
    assert ids.count(tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)) == 7


@pytest.mark.parametrize("generation", GENERATIONS)
def test_prompt_is_the_rendering_up_to_the_answer(generation, backbones, tokenizers):
    tokenizer, backbone = tokenizers[generation], backbones[generation]
    conv = [{"from": "human", "value": "How many cubes?"}, {"from": "gpt", "value": "Two."},
            {"from": "human", "value": "And spheres?"}, {"from": "gpt", "value": "One."}]
    rendered = backbone.render(conv, tokenizer, "p")
    prompt = backbone.prompt(conv[:-1], tokenizer)
    assert rendered.input_ids[:len(prompt)] == prompt
    assert rendered.labels[len(prompt) - 1] == IGNORE_INDEX  # the assistant header is not supervised
    assert rendered.labels[len(prompt)] != IGNORE_INDEX  # the answer starts right after the prompt


def test_prompt_starts_with_bos_and_ends_with_the_assistant_header(backbones, tokenizers):
    tok = tokenizers["llama3"]
    prompt = backbones["llama3"].prompt([{"from": "human", "value": "Hi"}], tok)
    assert prompt[0] == tok.bos_token_id
    assert tok.decode(prompt).endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_llama3_stops_at_eot_and_end_of_text(backbones, tokenizers):
    tok = tokenizers["llama3"]
    assert backbones["llama3"].stop_token_ids(tok) == [tok.convert_tokens_to_ids("<|eot_id|>"), tok.eos_token_id]


@pytest.mark.parametrize("generation", ["llama1", "llama2"])
def test_llama1_and_2_stop_at_eos(generation, backbones, tokenizers):
    tok = tokenizers[generation]
    assert backbones[generation].stop_token_ids(tok) == [tok.eos_token_id]


def test_vicuna_text_matches_llava_layout(backbones, tokenizers):
    conv = [{"from": "system", "value": "Sys."}, {"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"},
            {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A2"}]
    assert backbones["llama1"].render(conv, tokenizers["llama1"]).text == \
        "Sys. USER: Q1 ASSISTANT: A1</s>USER: Q2 ASSISTANT: A2</s>"


def test_llama2_text_matches_meta_layout(backbones, tokenizers):
    conv = [{"from": "system", "value": "Sys."}, {"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"},
            {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A2"}]
    assert backbones["llama2"].render(conv, tokenizers["llama2"]).text == \
        "[INST] <<SYS>>\nSys.\n<</SYS>>\n\nQ1 [/INST] A1 </s><s>[INST] Q2 [/INST] A2 </s>"


def test_llama3_text_matches_meta_layout(backbones, tokenizers):
    conv = [{"from": "system", "value": "Sys."}, {"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"}]
    h = "<|start_header_id|>{}<|end_header_id|>\n\n"
    assert backbones["llama3"].render(conv, tokenizers["llama3"]).text == \
        f"{h.format('system')}Sys.<|eot_id|>{h.format('user')}Q1<|eot_id|>{h.format('assistant')}A1<|eot_id|>"


@pytest.mark.parametrize("conv, problem", [
    ([], "non-empty"),
    ([{"from": "gpt", "value": "A"}], "expected 'human'"),
    ([{"from": "human", "value": "Q"}], "must end with a 'gpt' turn"),
    ([{"from": "human", "value": "Q"}, {"from": "robot", "value": "A"}], "unknown role 'robot'"),
    ([{"from": "human"}, {"from": "gpt", "value": "A"}], "must have 'from' and 'value'"),
])
def test_malformed_conversation_is_a_one_line_error_naming_the_sample(conv, problem, backbones, tokenizers):
    with pytest.raises(HarnessError, match=problem) as err:
        backbones["llama2"].render(conv, tokenizers["llama2"], sample_id="row-17")
    assert "row-17" in str(err.value) and "\n" not in str(err.value)


def test_tokenization_mismatch_raises_naming_the_sample(tmp_path):
    """A tokenizer whose merges cross the format's piece boundary (': ' + 'R') cannot be masked
    piecewise; rendering must refuse, not mask the sample."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:?.,' "))
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", *chars, ": ", ": R"])}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[(":", " "), (": ", "R")], unk_token="<unk>"))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    conv = [{"from": "system", "value": "S."}, {"from": "human", "value": "Q?"}, {"from": "gpt", "value": "Red."}]
    with pytest.raises(HarnessError, match=r"tokenization mismatch in sample s-42"):
        render_conversation(conv, fast, "vicuna_v1", "s-42")


def test_unknown_chat_format_suggests_the_close_name(tokenizers):
    conv = [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]
    with pytest.raises(HarnessError, match="did you mean 'llama3'"):
        render_conversation(conv, tokenizers["llama3"], "llama_3")


def test_render_prompt_needs_a_final_human_turn(tokenizers):
    with pytest.raises(HarnessError, match="must end with a 'human' turn"):
        render_prompt([{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}], tokenizers["llama1"], "vicuna_v1")


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("with_system", [True, False])
def test_tokenizer_chat_template_gives_the_rendered_ids(generation, with_system, backbones, tokenizers):
    """A saved checkpoint's processor (stock apply_chat_template) formats exactly as render()/prompt() do."""
    tok, backbone = tokenizers[generation], backbones[generation]
    conv = ([{"from": "system", "value": "Be brief."}] if with_system else []) + [
        {"from": "human", "value": "<image>\nHow many cubes?"}, {"from": "gpt", "value": "Two."},
        {"from": "human", "value": "And spheres?"}, {"from": "gpt", "value": "One sphere."}]
    role = {"system": "system", "human": "user", "gpt": "assistant"}
    messages = [{"role": role[t["from"]], "content": t["value"]} for t in conv]
    rendered = backbone.render(conv, tok, "t")
    text = tok.apply_chat_template(messages, tokenize=False)
    assert text == rendered.text
    assert tok(text)["input_ids"] == rendered.input_ids
    prompt_text = tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    assert tok(prompt_text)["input_ids"] == backbone.prompt(conv[:-1], tok)
