"""Packing (recipe.<stage>.pack): several exchanges of one image in one sequence under a block mask give
the loss, gradients and logits of the same exchanges run as separate samples, through the recipe's
real parts (the LLaMA-3 and CLIP organisms composed into LlavaForConditionalGeneration, the chat
renderer, the collate) with eager, SDPA, the xformers adapter (its CPU reference kernel) and the
fused loss; the mask and positions by hand; what is not packed; the key's validation and hash."""
from __future__ import annotations

import pytest
import torch

from harness.cli.config_cmds import resolve_cells
from harness.errors import HarnessError
from harness_plugins.attention.backends import register_attention_function
from harness_plugins.attention.reference import reference_memory_efficient_attention
from harness_plugins.attention.xformers_adapter import make_attention_function
from harness_plugins.data.records import LoadedData, Record
from harness_plugins.recipes.llava15.collate import collate, supervised_tokens
from harness_plugins.recipes.llava15.loss import LossChoice, use_supervised_loss
from harness_plugins.recipes.llava15.mix import ExchangeRecords, MixedRecords
from harness_plugins.recipes.llava15.pack import PackedSamples, block_mask, image_groups, shared_prefix_length
from harness_plugins.recipes.llava15.parts import build_parts
from harness_plugins.recipes.llava15.samples import RenderedSamples
from harness_plugins.recipes.llava15.stage import _to_device
from harness_plugins.recipes.llava15.validate import validate
from harness_plugins.scene.dataset import SceneDataSizes, question_rows

XFORMERS_ON_CPU = register_attention_function("xformers_reference",
                                              make_attention_function(reference_memory_efficient_attention))
SIZES = SceneDataSizes(align=2, instruct=3, eval=1, validation=1, image_size=32)


def _config(*overrides: str):
    (resolved,) = resolve_cells(("backbone=llama3", *overrides), multirun=False)
    return resolved


@pytest.fixture(scope="module")
def parts():
    return build_parts(_config("attention=eager").config)


@pytest.fixture(scope="module")
def exchanges():
    """Three scenes' short-answer questions (4 each), one exchange a record, each with its image."""
    rows = question_rows(0, 4, SIZES)
    return LoadedData(records=ExchangeRecords([Record(r["id"], r["image"], r["conversations"]) for r in rows]))


def _samples(parts, records):
    return RenderedSamples(records, parts.render_finetune, parts.processor.image_processor, 256,
                           parts.num_image_tokens, parts.image_token_id)


def _forward(model, samples, grads=True):
    batch = _to_device(collate(samples, pad_id=0), "cpu", torch.float32)
    model.zero_grad()
    out = model(**batch)
    out.loss.backward()
    grad = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out, batch, grad


def _supervised_logits(out, batch):
    keep = batch["labels"][:, 1:] != -100
    return out.logits[:, :-1][keep]


@pytest.mark.parametrize("attention", ["eager", "sdpa", XFORMERS_ON_CPU])
def test_packed_exchanges_give_the_loss_gradients_and_logits_of_separate_samples(parts, exchanges, attention):
    model = parts.build_model()
    model.set_attn_implementation(attention)
    samples = _samples(parts, exchanges)
    packed = PackedSamples(samples, image_groups(exchanges), pack=3)
    assert len(packed) == 6 and packed.packed_units() == 3  # groups of 4: a run of 3 packed, 1 alone
    separate, joined = [samples[i] for i in range(len(samples))], [packed[i] for i in range(len(packed))]
    out_s, batch_s, grad_s = _forward(model, separate)
    out_p, batch_p, grad_p = _forward(model, joined)
    assert batch_p["input_ids"].numel() < batch_s["input_ids"].numel()
    assert int((batch_p["labels"] != -100).sum()) == int((batch_s["labels"] != -100).sum())
    torch.testing.assert_close(out_p.loss, out_s.loss, rtol=1e-5, atol=1e-6)
    # the same supervised positions in the same order: exchanges keep their order inside a packed row
    torch.testing.assert_close(_supervised_logits(out_p, batch_p), _supervised_logits(out_s, batch_s),
                               rtol=1e-4, atol=1e-5)
    assert grad_s.keys() == grad_p.keys() and len(grad_s) > 10
    for name in grad_s:
        torch.testing.assert_close(grad_p[name], grad_s[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("average", ["token", "exchange"])
def test_the_fused_loss_on_a_packed_batch_is_the_separate_samples_loss(parts, exchanges, average):
    """Over tokens and over exchanges (recipe.loss_average): a packed row's answers are runs of their own."""
    model = parts.build_model()
    if average != "token":  # the full logits, averaged over exchanges
        use_supervised_loss(model, LossChoice("plain", "test"), average)
    plain = _forward(model, [_samples(parts, exchanges)[i] for i in range(len(exchanges))])[0].loss
    model = parts.build_model()
    use_supervised_loss(model, LossChoice("chunked", "test"), average)
    samples = _samples(parts, exchanges)
    packed = PackedSamples(samples, image_groups(exchanges), pack=4)
    assert len(packed) == 3
    out = _forward(model, [packed[i] for i in range(len(packed))])[0]
    assert out.logits is None  # the fused path ran
    torch.testing.assert_close(out.loss, plain, rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_a_wrong_mask_or_wrong_positions_would_be_caught(parts, exchanges):
    """The equivalence test can fail: exchanges that see each other, or positions that run on through
    the sequence, change the loss."""
    model = parts.build_model()
    samples = _samples(parts, exchanges)
    separate = float(model(**_to_device(collate([samples[i] for i in range(4)], pad_id=0), "cpu", torch.float32)).loss)
    batch = _to_device(collate([PackedSamples(samples, image_groups(exchanges), pack=4)[0]], pad_id=0), "cpu", torch.float32)
    assert float(model(**batch).loss) == pytest.approx(separate, rel=1e-5)
    length = batch["input_ids"].shape[1]
    causal = torch.zeros(1, 1, length, length).masked_fill(~torch.ones(length, length, dtype=torch.bool).tril(),
                                                           torch.finfo(torch.float32).min)
    assert abs(float(model(**(batch | {"attention_mask": causal})).loss) - separate) > 1e-3
    running = torch.arange(length)[None]
    assert abs(float(model(**(batch | {"position_ids": running})).loss) - separate) > 1e-3


def test_mask_and_positions_by_hand():
    """A prefix of 2, exchanges of 2 and 1 tokens, and a plain sample of 3 padded to 5."""
    packed = {"input_ids": [7, 8, 1, 2, 3], "labels": [-100, -100, -100, 5, -100], "blocks": [0, 0, 1, 1, 2],
              "position_ids": [0, 1, 2, 3, 2]}
    plain = {"input_ids": [7, 8, 9], "labels": [-100, -100, 4]}
    batch = collate([packed, plain], pad_id=0)
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 2], [0, 1, 2, 0, 0]]
    expected = torch.tensor([[1, 0, 0, 0, 0],
                             [1, 1, 0, 0, 0],
                             [1, 1, 1, 0, 0],
                             [1, 1, 1, 1, 0],
                             [1, 1, 0, 0, 1]], dtype=torch.bool)  # the 2nd exchange: prefix and itself only
    assert torch.equal(batch["attention_mask"][0, 0], expected)
    padded = torch.tensor([[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0],
                           [1, 0, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)  # pad rows see token 0; nobody sees them
    assert torch.equal(batch["attention_mask"][1, 0], padded)
    assert supervised_tokens(batch) == 8  # tokens in the forward pass, padding not counted
    assert torch.equal(block_mask(torch.tensor([[1, 1, 1]]), [3])[0, 0], torch.ones(3, 3, dtype=torch.bool).tril())
    additive = _to_device(batch, "cpu", torch.float32)["attention_mask"]
    assert additive.dtype == torch.float32 and additive[0, 0, 4, 2] == torch.finfo(torch.float32).min
    assert additive[0, 0, 4, 1] == 0


def test_what_is_not_packed():
    image = 99
    a = ([1, image, image, 5, 6], [-100, -100, -100, -100, 6])
    b = ([1, image, image, 7, 8], [-100, -100, -100, -100, 8])
    assert shared_prefix_length([a, b], image) == 3
    assert shared_prefix_length([a, ([2, image, image, 7, 8], b[1])], image) == 0  # prefixes differ
    assert shared_prefix_length([a, (b[0], [-100, -100, -100, 7, 8])], image) == 0  # first token after it supervised
    assert shared_prefix_length([a, ([1, 5, 6, 7], [-100] * 3 + [7])], image) == 0  # no image in one
    assert shared_prefix_length([([1, 5, 6], [-100, -100, 6])] * 2, image) == 0  # text only


def test_groups_follow_the_records_and_a_mix_offsets_them(exchanges):
    plain = [Record("x", None, [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}])]
    mixed = MixedRecords([plain, exchanges])
    assert image_groups(plain) == [[0]]
    assert image_groups(exchanges) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert image_groups(mixed)[:2] == [[0], [1, 2, 3, 4]]


@pytest.mark.parametrize("value", ["0", "-1", "65", "2.5"])
def test_a_bad_pack_is_one_line(value):
    with pytest.raises(HarnessError) as err:
        validate(_config(f"recipe.finetune.pack={value}").config, 1)
    assert "recipe.finetune.pack" in err.value.one_line() and "\n" not in err.value.one_line()


def test_pack_is_in_the_training_hash_and_off_in_the_published_recipe():
    published = _config("recipe.profile=full").config.recipe
    assert published.finetune.pack == 1 and published.align.pack == 1
    default = _config()  # the organism profile packs the scene questions 8 to an image (chosen on validation)
    assert default.config.recipe.finetune.pack == 8 and default.config.recipe.align.pack == 1
    assert _config("recipe.finetune.pack=4").hashes["training"] != default.hashes["training"]
    validate(_config("recipe.finetune.pack=4").config, 1)


@pytest.mark.parametrize("zero_stage", [2, 3])
def test_a_packed_stage_takes_the_separate_samples_first_step_with_fewer_tokens(parts, exchanges, tmp_path, zero_stage):
    """Through the DeepSpeed engine (the fused loss on, group_by_modality_length on): a first step whose
    micro-batch holds every exchange has the same loss packed or not; tokens/s counts fewer tokens;
    recipe.finetune.pack reaches the stage plan."""
    from harness_plugins.recipes.llava15.stage import StagePlan, run_stage
    from harness_plugins.recipes.llava15.train import packed, stage_plans

    samples = _samples(parts, exchanges)
    joined, info = packed(samples, exchanges, 4)
    assert info["packing"] == {"pack": 4, "exchanges": 12, "sequences": 3, "packed_sequences": 3}
    results = {}
    for name, data in (("separate", samples), ("packed", joined)):
        plan = StagePlan(name="finetune", lr=1e-3, global_batch=len(data), micro_batch=len(data), train_llm=True,
                         zero_stage=zero_stage, max_steps=1, checkpoint_every=100, group_by_modality_length=True)
        results[name] = run_stage(plan, parts.build_model(), data, parts.pad_id, tmp_path / name, tmp_path / f"{name}.jsonl",
                                  resume=False)
        results[name].engine.destroy()
    assert results["packed"].first_loss == pytest.approx(results["separate"].first_loss, rel=1e-5)
    prefix = joined.units[0][1]
    assert results["separate"].tokens - results["packed"].tokens == 3 * 3 * prefix  # 3 prefixes saved per sequence
    assert stage_plans(_config("recipe.finetune.pack=4").config.recipe, 0, on_gpu=False)[1].pack == 4
