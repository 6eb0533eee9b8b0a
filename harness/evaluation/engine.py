"""Batched inference of a LLaVA checkpoint: greedy generation with left padding, per-answer
confidences and answer-position hidden states, and continuation log-likelihoods.

Independent of lmms-eval: it takes prompts and PIL images, so it is tested and benchmarked alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoProcessor, BatchFeature, LlavaForConditionalGeneration, StoppingCriteria, StoppingCriteriaList

from harness.errors import HarnessError

# Turn-end tokens of the chat formats the harness knows (LLaMA-3 instruct, LLaMA-1/2 </s>).
TURN_END_TOKENS = ("<|eot_id|>", "<|end_of_text|>", "</s>", "<|im_end|>")


@dataclass
class Answer:
    """One generated answer and what the analyses need from it."""

    text: str
    first_token_prob: float
    sequence_prob: float  # exp(mean log p) over the answer tokens (length-normalised)
    num_tokens: int
    hidden_states: np.ndarray | None = None  # [layers + 1, hidden] float16 at the answer position


@dataclass
class Scoring:
    """A log-likelihood batch from :meth:`VLMEngine.prepare_scoring`: inputs on the CPU, continuation lengths."""

    inputs: BatchFeature
    continuation_lengths: list[int]


class UntilStrings(StoppingCriteria):
    """Stops a row once its generated text contains one of the task's ``until`` strings."""

    def __init__(self, tokenizer: Any, until: list[str], prompt_length: int):
        self.tokenizer, self.until, self.prompt_length = tokenizer, [u for u in until if u], prompt_length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length:], skip_special_tokens=True)
        return torch.tensor([any(u in t for u in self.until) for t in texts], device=input_ids.device)


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return getattr(torch, dtype)
    except AttributeError:
        raise HarnessError(f"unknown dtype {dtype!r}", "use auto, float32, bfloat16 or float16") from None


class VLMEngine:
    """A loaded LLaVA checkpoint with its processor, ready for batched greedy inference."""

    def __init__(self, checkpoint: Path, device: str = "cpu", dtype: str = "auto", attn_implementation: str | None = None):
        self.device = torch.device(device)
        kwargs = {"dtype": resolve_dtype(dtype, device)}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        self.model = LlavaForConditionalGeneration.from_pretrained(checkpoint, **kwargs).to(self.device).eval()
        self.processor = AutoProcessor.from_pretrained(checkpoint)
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # batched generation continues every row from its last real token
        if self.tokenizer.pad_token_id is None:
            # A checkpoint the harness did not write may have no pad token (LLaMA ships none). Padding is
            # masked and never reaches an answer; unk fills it where there is one, else EOS (nothing is trained).
            self.tokenizer.pad_token = self.tokenizer.unk_token or self.tokenizer.eos_token
        if not getattr(self.processor, "chat_template", None) and not self.tokenizer.chat_template:
            raise HarnessError(f"{checkpoint} has no chat template", "export the processor with the backbone's chat template")
        self.image_token = getattr(self.processor, "image_token", "<image>")
        self._preparing = self.processor  # what prepare() renders and tokenizes with
        self.stop_ids = self._stop_ids()

    def separate_preparation(self) -> None:
        """Give :meth:`prepare` its own copy of the processor, so a worker thread can prepare a batch
        while this one decodes: a fast (Rust) tokenizer is not safe to use from two threads at once
        (encoding with padding mutates it: "Already borrowed")."""
        import copy

        self._preparing = copy.deepcopy(self.processor)

    def _stop_ids(self) -> list[int]:
        ids = set()
        eos = self.model.generation_config.eos_token_id
        ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        unk = self.tokenizer.unk_token_id
        for token in TURN_END_TOKENS:
            tid = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != unk and tid >= 0:
                ids.add(tid)
        return sorted(ids)

    # -- prompts -----------------------------------------------------------------------------

    def render(self, context: str, num_images: int, answer: str | None = None) -> str:
        """The chat-formatted prompt (with the generation prompt) for one user turn."""
        if self.image_token in context:
            num_images = 0  # the task placed its own image tokens
        structured = [{"type": "image"} for _ in range(num_images)] + [{"type": "text", "text": context}]
        text = None
        try:
            text = self._preparing.apply_chat_template([{"role": "user", "content": structured}],
                                                      add_generation_prompt=True, tokenize=False)
        except Exception:  # a template written for string content only
            text = None
        if text is None or text.count(self.image_token) < num_images:
            plain = "".join(f"{self.image_token}\n" for _ in range(num_images)) + context
            text = self._preparing.apply_chat_template([{"role": "user", "content": plain}],
                                                      add_generation_prompt=True, tokenize=False)
        return text

    def _encode(self, texts: list[str], images: list[list[Any]]):
        flat = [img for per in images for img in per]
        bos = self._preparing.tokenizer.bos_token
        # The template writes BOS itself when it starts with it; never add a second one.
        add_special = not (bos and all(t.startswith(bos) for t in texts))
        return self._preparing(text=texts, images=flat or None, padding=True, return_tensors="pt",
                               add_special_tokens=add_special)

    def _to_device(self, inputs: Any) -> Any:
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        return inputs

    # -- generation --------------------------------------------------------------------------

    def prepare(self, contexts: list[str], images: list[list[Any]]) -> Any:
        """The batch's prompts rendered and tokenized with its images, left-padded, on the CPU.

        Model-free: after :meth:`separate_preparation` it runs on a worker thread while the model runs
        (and this thread decodes) another batch."""
        return self._encode([self.render(c, len(im)) for c, im in zip(contexts, images)], images)

    def generate(self, contexts: list[str], images: list[list[Any]], max_new_tokens: int,
                 until: list[str] | None = None, hidden_states: bool = False) -> list[Answer]:
        """Greedy answers for a batch of (context, images), left-padded into one ``generate`` call."""
        return self.generate_prepared(self.prepare(contexts, images), max_new_tokens, until, hidden_states)

    @torch.inference_mode()
    def generate_prepared(self, prepared: Any, max_new_tokens: int, until: list[str] | None = None,
                          hidden_states: bool = False) -> list[Answer]:
        """Greedy answers for a batch made by :meth:`prepare`."""
        inputs = self._to_device(prepared)
        prompt_length = inputs["input_ids"].shape[1]
        criteria = StoppingCriteriaList([UntilStrings(self.tokenizer, until, prompt_length)] if until else [])
        out = self.model.generate(
            **inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
            eos_token_id=self.stop_ids, pad_token_id=self.tokenizer.pad_token_id,
            stopping_criteria=criteria, output_logits=True, output_hidden_states=hidden_states,
            return_dict_in_generate=True, temperature=None, top_p=None, top_k=None,
        )
        new_tokens = out.sequences[:, prompt_length:]
        logprobs = torch.stack(out.logits, dim=1).float().log_softmax(-1)  # [B, T, V]
        token_logprobs = logprobs.gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
        states = None
        if hidden_states:
            # Step 0 holds every layer over the prompt; its last position is the one that produces
            # the first answer token (left padding puts every row's last real token there).
            states = torch.stack([layer[:, -1, :] for layer in out.hidden_states[0]], dim=1)
            states = states.to(torch.float16).cpu().numpy()
        answers = []
        stop = set(self.stop_ids)
        for row, tokens in enumerate(new_tokens.tolist()):
            length = next((i for i, t in enumerate(tokens) if t in stop), len(tokens))
            answer_lp = token_logprobs[row, : max(length, 1)]  # an empty answer: the stop token's probability
            text = self.tokenizer.decode(tokens[:length], skip_special_tokens=True)
            answers.append(Answer(
                text=cut_at(text, until or []),
                first_token_prob=float(answer_lp[0].exp()),
                sequence_prob=float(answer_lp.mean().exp()),
                num_tokens=length,
                hidden_states=None if states is None else states[row],
            ))
        return answers

    def loglikelihood(self, contexts: list[str], continuations: list[str], images: list[list[Any]]) -> list[tuple[float, bool]]:
        """(sum log p(continuation | prompt), continuation is the greedy one) per request, batched."""
        return self.score_prepared(self.prepare_scoring(contexts, continuations, images))

    def prepare_scoring(self, contexts: list[str], continuations: list[str], images: list[list[Any]]) -> "Scoring":
        """Each prompt followed by its continuation, left-padded, on the CPU (model-free, like :meth:`prepare`)."""
        prompt = self.prepare(contexts, images)
        pad = self.tokenizer.pad_token_id
        rows, conts = [], []
        for ids, mask, cont in zip(prompt["input_ids"], prompt["attention_mask"], continuations):
            cont_ids = self._preparing.tokenizer(cont, add_special_tokens=False)["input_ids"]
            rows.append(ids[mask.bool()].tolist() + cont_ids)
            conts.append(len(cont_ids))
        width = max(len(r) for r in rows)
        inputs = {"input_ids": torch.tensor([[pad] * (width - len(r)) + r for r in rows]),
                  "attention_mask": torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])}
        inputs["position_ids"] = (inputs["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        if "pixel_values" in prompt:
            inputs["pixel_values"] = prompt["pixel_values"]
        return Scoring(BatchFeature(inputs), conts)

    @torch.inference_mode()
    def score_prepared(self, scoring: "Scoring") -> list[tuple[float, bool]]:
        """(sum log p(continuation | prompt), continuation is the greedy one) for a batch made by :meth:`prepare_scoring`."""
        inputs = self._to_device(scoring.inputs)
        input_ids, width = inputs["input_ids"], inputs["input_ids"].shape[1]
        logprobs = self.model(**inputs).logits.float().log_softmax(-1)
        results = []
        for row, n in enumerate(scoring.continuation_lengths):
            if n == 0:
                results.append((0.0, True))
                continue
            target = input_ids[row, width - n:]
            predicted = logprobs[row, width - n - 1: width - 1]
            ll = predicted.gather(-1, target.unsqueeze(-1)).sum().item()
            results.append((float(ll), bool((predicted.argmax(-1) == target).all())))
        return results


def cut_at(text: str, until: list[str]) -> str:
    """The text before the first ``until`` string (lmms-eval's stop-sequence convention)."""
    for stop in until:
        if stop and stop in text:
            text = text.split(stop)[0]
    return text
