"""Chat formats: how a LLaVA-style conversation becomes text pieces, each supervised or not.

Pure Python (no tokenizer): a format turns turns into :class:`Piece` s whose boundaries are token
boundaries (a special token, or a space that starts a word). :mod:`.render` tokenizes them.
Formats: ``vicuna_v1`` (LLaVA's LLaMA-1 format), ``llama2`` (``[INST]``/``<<SYS>>``), ``llama3``
(header tokens, ``<|eot_id|>``) and ``plain`` (LLaVA stage-1 alignment: image, then caption).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import HarnessError, unknown_name

HUMAN, GPT, SYSTEM = "human", "gpt", "system"
ROLES = (HUMAN, GPT, SYSTEM)

VICUNA_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the human's questions.")
# LLaVA's conv_llava_llama_2 system prompt.
LLAMA2_SYSTEM = ("You are a helpful language and vision assistant. You are able to understand the visual "
                 "content that the user provides, and assist the user with a variety of tasks using "
                 "natural language.")


@dataclass(frozen=True)
class Piece:
    """A span of the rendered text. ``special``: the text is exactly one special token."""

    text: str
    supervised: bool
    special: bool = False


@dataclass(frozen=True)
class Turn:
    """A validated turn: role is human, gpt or system; value is stripped."""

    role: str
    value: str


def parse_conversation(conversation: Sequence[dict], sample_id: str, ends_with: str) -> tuple[str | None, list[Turn]]:
    """Validate a LLaVA-style conversation; return (system text or None, alternating human/gpt turns).

    ``ends_with``: ``gpt`` for training samples, ``human`` for generation prompts.
    """
    def bad(msg: str) -> HarnessError:
        return HarnessError(f"conversation of sample {sample_id}: {msg}",
                            "turns are {'from': 'human'|'gpt'|'system', 'value': str}, alternating human/gpt")

    if not isinstance(conversation, Sequence) or isinstance(conversation, str) or not conversation:
        raise bad("must be a non-empty list of turns")
    turns: list[Turn] = []
    for i, raw in enumerate(conversation):
        if not isinstance(raw, dict) or "from" not in raw or "value" not in raw:
            raise bad(f"turn {i} must have 'from' and 'value'")
        role, value = raw["from"], raw["value"]
        if role not in ROLES:
            raise bad(f"turn {i} has unknown role {role!r}")
        if not isinstance(value, str):
            raise bad(f"turn {i} value must be a string")
        turns.append(Turn(role, value.strip()))
    system = None
    if turns[0].role == SYSTEM:
        system, turns = turns[0].value, turns[1:]
    for i, turn in enumerate(turns):
        want = HUMAN if i % 2 == 0 else GPT
        if turn.role != want:
            raise bad(f"turn {i + (system is not None)} is {turn.role!r}, expected {want!r}")
    if not turns or turns[-1].role != ends_with:
        raise bad(f"must end with a {ends_with!r} turn")
    return system, turns


def _jinja(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Jinja string literal


# Hugging Face chat templates (messages with role/content) giving the same text as the pieces.
# No bos_token in them: the tokenizer adds BOS when the text is tokenized, as render() does.
# A message's content is a string or, as processors and lmms-eval's chat models send it, a list of
# {"type": "image"} / {"type": "text", "text": ...} parts: an image part becomes "<image>\n" there.
CONTENT = ("{%- macro text(c) -%}{%- if c is string -%}{{ c | trim }}{%- else -%}{%- set ns = namespace(s='') -%}"
           "{%- for p in c -%}{%- if p['type'] == 'image' -%}{%- set ns.s = ns.s + '<image>\\n' -%}"
           "{%- elif p['type'] == 'text' -%}{%- set ns.s = ns.s + p['text'] -%}{%- endif -%}{%- endfor -%}"
           "{{ ns.s | trim }}{%- endif -%}{%- endmacro -%}")
SYSTEM_AND_REST = ("{%- if messages[0]['role'] == 'system' -%}{%- set sys = text(messages[0]['content']) -%}"
                   "{%- set msgs = messages[1:] -%}{%- else -%}{%- set sys = DEFAULT -%}{%- set msgs = messages -%}"
                   "{%- endif -%}")
VICUNA_TEMPLATE = (CONTENT + SYSTEM_AND_REST.replace("DEFAULT", _jinja(VICUNA_SYSTEM)) + "{{ sys + ' ' }}"
                   "{%- for m in msgs -%}{%- if m['role'] == 'user' -%}{{ 'USER: ' + text(m['content']) + ' ' }}"
                   "{%- else -%}{{ 'ASSISTANT: ' + text(m['content']) + eos_token }}{%- endif -%}{%- endfor -%}"
                   "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}")
LLAMA2_TEMPLATE = (CONTENT + SYSTEM_AND_REST.replace("DEFAULT", _jinja(LLAMA2_SYSTEM)) +
                   "{%- for m in msgs -%}{%- if m['role'] == 'user' -%}"
                   "{%- if loop.index0 > 0 -%}{{ bos_token }}{%- endif -%}"
                   "{{ '[INST] ' + ('<<SYS>>\\n' + sys + '\\n<</SYS>>\\n\\n' if loop.index0 == 0 else '')"
                   " + text(m['content']) + ' [/INST]' }}"
                   "{%- else -%}{{ ' ' + text(m['content']) + ' ' + eos_token }}{%- endif -%}{%- endfor -%}")
LLAMA3_TEMPLATE = (CONTENT + "{%- for m in messages -%}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n'"
                   " + text(m['content']) + '<|eot_id|>' }}{%- endfor -%}"
                   "{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
                   "{%- endif -%}")


@dataclass(frozen=True)
class ChatFormat:
    """A chat format: which special tokens it needs and how it lays out turns."""

    name: str
    description: str
    chat_template: str | None = None  # the same layout as a Hugging Face chat template

    def required_tokens(self, bos: str, eos: str) -> tuple[str, ...]:
        return (bos, eos)

    def stop_tokens(self, bos: str, eos: str) -> tuple[str, ...]:
        """Tokens that end an assistant turn, first the one the format writes there (what training
        supervises at a turn's end; an export names it as its tokenizer's EOS, for stock tools)."""
        return (eos,)

    def pieces(self, system: str | None, turns: list[Turn], bos: str, eos: str, image: str) -> list[Piece]:
        """The pieces after BOS; ends after the last gpt turn, or ready for one if the last is human."""
        raise NotImplementedError


class VicunaV1(ChatFormat):
    """``SYSTEM USER: q ASSISTANT: a</s>USER: q2 ASSISTANT: a2</s>`` (LLaVA conv_vicuna_v1)."""

    def pieces(self, system, turns, bos, eos, image):
        out: list[Piece] = []
        head = (VICUNA_SYSTEM if system is None else system) + " "
        for i in range(0, len(turns), 2):
            out.append(Piece(f"{head}USER: {turns[i].value} ASSISTANT:", False))
            head = ""
            if i + 1 < len(turns):
                out += [Piece(" " + turns[i + 1].value, True), Piece(eos, True, special=True)]
        return out


class Llama2(ChatFormat):
    """``[INST] <<SYS>>\\nsys\\n<</SYS>>\\n\\nq [/INST] a </s><s>[INST] q2 [/INST] a2 </s>`` (Meta, LLaVA)."""

    def pieces(self, system, turns, bos, eos, image):
        out: list[Piece] = []
        sys_block = f"<<SYS>>\n{LLAMA2_SYSTEM if system is None else system}\n<</SYS>>\n\n"
        for i in range(0, len(turns), 2):
            if i:
                out.append(Piece(bos, False, special=True))
            out.append(Piece(f"[INST] {sys_block if i == 0 else ''}{turns[i].value} [/INST]", False))
            if i + 1 < len(turns):
                out += [Piece(f" {turns[i + 1].value} ", True), Piece(eos, True, special=True)]
        return out


class Llama3(ChatFormat):
    """``<|start_header_id|>role<|end_header_id|>\\n\\ntext<|eot_id|>`` per turn (Meta Llama 3 instruct)."""

    START, END, EOT = "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"

    def required_tokens(self, bos, eos):
        return (bos, eos, self.START, self.END, self.EOT)

    def stop_tokens(self, bos, eos):
        return (self.EOT, eos)

    def header(self, role: str) -> str:
        return f"{self.START}{role}{self.END}\n\n"

    def pieces(self, system, turns, bos, eos, image):
        out: list[Piece] = []
        if system is not None:
            out.append(Piece(f"{self.header('system')}{system}{self.EOT}", False))
        for turn in turns:
            if turn.role == HUMAN:
                out.append(Piece(f"{self.header('user')}{turn.value}{self.EOT}", False))
            else:
                out += [Piece(turn.value, True), Piece(self.EOT, True, special=True)]
            if turn.role == HUMAN:
                out.append(Piece(self.header("assistant"), False))
        return out


class Plain(ChatFormat):
    """LLaVA stage-1 alignment: ``<image>`` then the caption, ended by EOS; the caption is supervised.

    The human text is replaced by the image placeholders alone, as LLaVA's ``preprocess_plain`` does.
    """

    def pieces(self, system, turns, bos, eos, image):
        if len(turns) not in (1, 2):
            raise HarnessError("the plain format takes one human turn (the image) and one gpt turn (the caption)",
                               "use a chat format for multi-turn data")
        images = max(1, turns[0].value.count(image))
        out = [Piece(image * images, False)]
        if len(turns) == 2:
            out += [Piece(turns[1].value, True), Piece(eos, True, special=True)]
        return out


FORMATS: dict[str, ChatFormat] = {
    "vicuna_v1": VicunaV1("vicuna_v1", "LLaVA's Vicuna v1 format, used for LLaMA-1", VICUNA_TEMPLATE),
    "llama2": Llama2("llama2", "LLaMA-2-chat [INST] format with <<SYS>>", LLAMA2_TEMPLATE),
    "llama3": Llama3("llama3", "LLaMA-3-instruct header tokens and <|eot_id|>", LLAMA3_TEMPLATE),
    "plain": Plain("plain", "LLaVA stage-1 alignment: image then caption (caption supervised)"),
}


def get_format(name: str) -> ChatFormat:
    """The named chat format; one-line error for an unknown name."""
    if name not in FORMATS:
        raise unknown_name("chat format", name, FORMATS)
    return FORMATS[name]
