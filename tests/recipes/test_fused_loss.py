"""The loss that never holds the full logits: same loss and gradients as full logits + cross-entropy,
only supervised positions reach the head, and a recipe stage trains the same with it on or off
(ZeRO-2, ZeRO-3 with the head partitioned, LoRA)."""
import pytest
import torch

from harness_plugins.recipes.llava15 import loss as fused
from harness_plugins.recipes.llava15.stage import StagePlan, run_stage


def _reference(hidden, weight, labels):
    """transformers' ForCausalLMLoss on full logits: shift, mean over supervised positions."""
    logits = hidden @ weight.t()
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, weight.shape[0]), labels[:, 1:].reshape(-1),
                                             ignore_index=-100)


def _case(seed=0, batch=3, length=13, width=8, vocab=50):
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(batch, length, width, generator=gen, requires_grad=True)
    weight = torch.randn(vocab, width, generator=gen, requires_grad=True)
    labels = torch.randint(0, vocab, (batch, length), generator=gen)
    labels[:, :5] = -100  # a prompt
    labels[1, 9:] = -100  # right padding
    return hidden, weight, labels


@pytest.mark.parametrize("chunk", [1, 4, 10_000])
def test_chunked_loss_and_gradients_equal_full_logits(chunk, monkeypatch):
    hidden, weight, labels = _case()
    expected = _reference(hidden, weight, labels)
    want_h, want_w = torch.autograd.grad(expected * 0.25, (hidden, weight))
    monkeypatch.setattr(fused, "chunk_positions", lambda vocab, budget=None: chunk)
    got = fused.supervised_loss(hidden, labels, weight, "chunked")
    got_h, got_w = torch.autograd.grad(got * 0.25, (hidden, weight))  # a scaled loss, as DeepSpeed accumulates
    assert float(got.detach()) == pytest.approx(float(expected.detach()), abs=1e-6)
    assert torch.allclose(got_h, want_h, atol=1e-7) and torch.allclose(got_w, want_w, atol=1e-7)


def _per_answer_reference(hidden, weight, labels):
    """Every answer once: the mean over answers (runs of supervised targets) of each answer's mean
    cross-entropy, from full logits, by a plain loop."""
    ce = torch.nn.functional.cross_entropy((hidden @ weight.t())[:, :-1].reshape(-1, weight.shape[0]),
                                           labels[:, 1:].reshape(-1), ignore_index=-100, reduction="none")
    ce, targets, answers = ce.view(labels.shape[0], -1), labels[:, 1:], []
    for row in range(labels.shape[0]):
        run = []
        for i in range(targets.shape[1] + 1):
            if i < targets.shape[1] and targets[row, i] != -100:
                run.append(ce[row, i])
            elif run:
                answers.append(torch.stack(run).mean())
                run = []
    return torch.stack(answers).mean()


def _exchanges_case(seed=4):
    hidden, weight, labels = _case(seed=seed, batch=3, length=16)
    labels[0, 8:10] = -100  # a second question in row 0: its answers are 5-7 and 10-15 (lengths 3 and 6)
    labels[2, 6:15] = -100  # row 2: a 1-token answer at 5 and one at 15
    return hidden, weight, labels


@pytest.mark.parametrize("kernel,chunk", [("chunked", 1), ("chunked", 5), ("chunked", 10_000), ("plain", None)])
def test_the_exchange_average_counts_every_answer_once(kernel, chunk, monkeypatch):
    hidden, weight, labels = _exchanges_case()
    expected = _per_answer_reference(hidden, weight, labels)
    assert float(expected.detach()) != pytest.approx(float(_reference(hidden, weight, labels).detach()), abs=1e-3)
    want_h, want_w = torch.autograd.grad(expected * 0.5, (hidden, weight))
    if chunk:
        monkeypatch.setattr(fused, "chunk_positions", lambda vocab, budget=None: chunk)
    got = fused.supervised_loss(hidden, labels, weight, kernel, average="exchange")
    got_h, got_w = torch.autograd.grad(got * 0.5, (hidden, weight))
    assert float(got.detach()) == pytest.approx(float(expected.detach()), abs=1e-6)
    assert torch.allclose(got_h, want_h, atol=1e-7) and torch.allclose(got_w, want_w, atol=1e-7)


def test_exchange_weights_give_each_run_an_equal_share():
    keep = torch.tensor([[0, 1, 1, 0, 1, 0, 0, 1],
                         [1, 1, 1, 1, 0, 0, 1, 0]], dtype=torch.bool)  # runs: 2, 1, 1 | 4 (a new row starts one), 1
    weights = fused.exchange_weights(keep)
    assert weights.tolist() == pytest.approx([0.1, 0.1, 0.2, 0.2, 0.05, 0.05, 0.05, 0.05, 0.2])


def test_a_frozen_head_gets_no_gradient_and_the_hidden_states_still_do():
    hidden, weight, labels = _case(seed=1)
    weight.requires_grad_(False)
    got = fused.supervised_loss(hidden, labels, weight, "chunked")
    (want_h,) = torch.autograd.grad(_reference(hidden, weight, labels), hidden)
    (got_h,) = torch.autograd.grad(got, hidden)
    assert torch.allclose(got_h, want_h, atol=1e-7) and weight.grad is None


def test_only_supervised_positions_reach_the_head():
    """Hidden states at positions with nothing to predict are never multiplied by the head: NaN there
    leaves the loss finite (full logits would carry it into the softmax of every position)."""
    hidden, weight, labels = _case(seed=2)
    unsupervised = torch.cat([labels[:, 1:] == -100, torch.ones(labels.shape[0], 1, dtype=torch.bool)], dim=1)
    poisoned = hidden.detach().clone()
    poisoned[unsupervised] = float("nan")
    got = fused.supervised_loss(poisoned, labels, weight.detach(), "chunked")
    assert torch.isfinite(got) and float(got) == pytest.approx(float(_reference(hidden, weight, labels)), abs=1e-6)


def test_the_chunk_bounds_the_logits_held_at_once():
    assert fused.chunk_positions(128256) * 128256 * 4 <= fused.CHUNK_BYTES
    assert fused.chunk_positions(10**12) == 1


def test_kernel_choice_per_device(monkeypatch):
    assert fused.choose_loss(False, "cuda:0").name == "plain"
    assert fused.choose_loss(True, "cpu").name == "chunked"
    monkeypatch.setattr(fused.importlib.util, "find_spec", lambda name: None)
    choice = fused.choose_loss(True, "cuda:0")
    assert choice.name == "chunked" and "harness[liger]" in choice.reason
    monkeypatch.setattr(fused.importlib.util, "find_spec", lambda name: object())
    assert fused.choose_loss(True, "cuda:0").name == "liger"
    choice = fused.choose_loss(True, "cuda:0", average="exchange")  # liger's kernel takes no per-position weights
    assert choice.name == "chunked" and "loss_average=exchange" in choice.reason
    assert fused.choose_loss(False, "cuda:0", average="exchange").name == "plain"


def _plan(**kw):
    base = dict(name="finetune", lr=5e-3, global_batch=8, micro_batch=4, train_llm=True, zero_stage=2,
                checkpoint_every=100, seed=3, max_steps=4)
    return StagePlan(**(base | kw))


def _train(tiny, tmp_path, samples=None, **kw):
    model = tiny.build_tiny_llava()
    # No parameter is kept whole under ZeRO-3 (tiny ones are, by default): the head's weight is partitioned.
    (tmp_path / "ds.json").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "ds.json").write_text('{"zero_optimization": {"stage3_param_persistence_threshold": 0}}')
    result = run_stage(_plan(deepspeed_config=str(tmp_path / "ds.json"), **kw), model, samples or tiny.tiny_samples(32), tiny.PAD, tmp_path / "stage", tmp_path / "m.jsonl",
                       resume=False)
    return result


@pytest.mark.parametrize("setting", [
    {"zero_stage": 2},
    {"zero_stage": 3},
    {"zero_stage": 3, "lora": {"r": 4, "alpha": 8, "dropout": 0.0}},
    {"zero_stage": 2, "name": "align", "train_llm": False, "lr": 1e-2},  # frozen LLM and head
], ids=["zero2", "zero3", "zero3-lora", "align"])
def test_a_stage_trains_the_same_with_the_fused_loss_on_and_off(tiny, tmp_path, setting):
    plain = _train(tiny, tmp_path / "plain", fused_loss=False, **setting)
    chunked = _train(tiny, tmp_path / "fused", fused_loss=True, **setting)
    assert plain.loss_kernel.startswith("plain") and chunked.loss_kernel.startswith("chunked")
    assert len(plain.losses) == 4 and plain.losses[-1] < plain.losses[0]
    assert chunked.losses == pytest.approx(plain.losses, abs=2e-5)  # steps 2-4 follow the gradients of 1-3


def _answers_of_several_lengths(tiny):
    """The tiny samples with answers of 2 to 5 tokens (the answer token repeated), so that averaging over
    answers and over tokens differ."""
    out = []
    for i, sample in enumerate(tiny.tiny_samples(32)):
        answer, repeat = sample["input_ids"][-2], i % 4
        out.append(sample | {"input_ids": sample["input_ids"][:-1] + [answer] * repeat + [2],
                             "labels": sample["labels"][:-1] + [answer] * repeat + [2]})
    return out


def test_a_stage_averaged_over_exchanges_trains_the_same_on_the_full_logits_and_differs_from_the_token_mean(tiny, tmp_path):
    samples = _answers_of_several_lengths(tiny)
    plain = _train(tiny, tmp_path / "plain", samples, fused_loss=False, zero_stage=2, loss_average="exchange")
    chunked = _train(tiny, tmp_path / "fused", samples, fused_loss=True, zero_stage=2, loss_average="exchange")
    token = _train(tiny, tmp_path / "token", samples, fused_loss=True, zero_stage=2)
    assert plain.losses[-1] < plain.losses[0] and chunked.loss_kernel.startswith("chunked")
    assert chunked.losses == pytest.approx(plain.losses, abs=2e-5)
    assert chunked.losses[0] != pytest.approx(token.losses[0], abs=1e-3)


def test_model_flops_count_the_head_only_where_it_runs(tiny):
    from harness_plugins.recipes.llava15.metrics import flops_model_of
    from harness_plugins.recipes.llava15.stage import set_trainable

    model = set_trainable(tiny.build_tiny_llava(), train_llm=True, lora=None)
    flops = flops_model_of(model)
    head = model.get_output_embeddings().weight.numel()
    assert (flops.head_trained, flops.head_frozen) == (head, 0)
    every = flops.step_flops(tokens=40, seq_len=12, images=4)
    assert flops.step_flops(tokens=40, seq_len=12, images=4, head_tokens=40) == every
    assert every - flops.step_flops(tokens=40, seq_len=12, images=4, head_tokens=10) == pytest.approx(6 * head * 30)
    frozen = flops_model_of(set_trainable(tiny.build_tiny_llava(), train_llm=False, lora=None))
    assert (frozen.head_trained, frozen.head_frozen) == (0, head)


def test_recipe_settings_reach_the_stage_plans():
    """recipe.fused_loss (default on) and LLaVA-1.5's group_by_modality_length default (finetune only)."""
    from harness_plugins.recipes.llava15.settings import Llava15Settings
    from harness_plugins.recipes.llava15.train import stage_plans

    recipe = Llava15Settings()
    align, finetune = stage_plans(recipe, seed=0, on_gpu=False)
    assert align.fused_loss and finetune.fused_loss
    assert (align.group_by_modality_length, finetune.group_by_modality_length) == (False, True)
    assert align.loss_average == finetune.loss_average == "token"
    recipe.fused_loss, recipe.finetune.group_by_modality_length = False, False
    recipe.loss_average = "exchange"
    align, finetune = stage_plans(recipe, seed=0, on_gpu=False)
    assert not align.fused_loss and not finetune.fused_loss and not finetune.group_by_modality_length
    assert align.loss_average == finetune.loss_average == "exchange"


def test_the_stage_result_keeps_its_engine_and_names_its_loss(tiny, tmp_path):
    result = _train(tiny, tmp_path, zero_stage=2, max_steps=1)
    assert result.engine is not None and hasattr(result.engine, "module")
    assert result.summary()["loss_kernel"].startswith("chunked: on cpu")


def test_loss_average_spelled_at_its_default_is_the_default_training_and_exchange_another():
    """recipe.loss_average is declared hash "unless_default": "token" spelled out is the default's training (and
    the default's hash is the one before the setting existed: test_settings.py); "exchange" is another."""
    from harness.cli.config_cmds import resolve_cells

    def cell(*overrides):
        (resolved,) = resolve_cells(("backbone=llama3", *overrides), multirun=False)
        return resolved

    default = cell()
    assert cell("recipe.loss_average=token").hashes == default.hashes
    assert cell("recipe.loss_average=exchange").hashes["training"] != default.hashes["training"]
