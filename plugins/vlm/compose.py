"""Vision tower + ``mlp2x_gelu`` projector + LLaMA backbone -> a stock ``LlavaForConditionalGeneration``.

The pretrained tower and LLM modules are moved into the LLaVA model as they are (no copy, no random
init of the big parts: the shell is built on the meta device); only the projector is new. The
config follows LLaVA-1.5: features from layer -2, CLS dropped ("default"), GELU projector, one
``<image>`` token id expanded to one placeholder per patch. The processor is transformers'
``LlavaProcessor``, so a saved checkpoint loads with plain ``from_pretrained``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError

IMAGE_TOKEN = "<image>"
FEATURE_LAYER = -2  # LLaVA-1.5: the second-to-last layer of the vision tower
SELECT_STRATEGY = "default"  # drop the CLS token, keep the patch tokens ("full" for towers without CLS)


def image_token_id(tokenizer: Any) -> int:
    """The id of ``<image>`` as one token; one-line error naming the tokenizer when it lacks it."""
    token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    ids = tokenizer.encode(IMAGE_TOKEN, add_special_tokens=False)
    if token_id is None or token_id == tokenizer.unk_token_id or ids != [token_id]:
        where = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise HarnessError(f"tokenizer {where} has no {IMAGE_TOKEN} special token",
                           "load it through the backbone plugin (which adds it) or add it with add_special_tokens")
    return int(token_id)


def _load(obj: Any, cls_name: str, dtype: str, attn_implementation: str) -> Any:
    """A model object as is, or ``from_pretrained`` on a folder."""
    if not isinstance(obj, (str, Path)):
        return obj
    import torch
    import transformers

    return getattr(transformers, cls_name).from_pretrained(
        str(obj), dtype=getattr(torch, dtype), attn_implementation=attn_implementation)


def _load_tokenizer(tokenizer: Any) -> Any:
    if not isinstance(tokenizer, (str, Path)):
        return tokenizer
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer))


def _load_image_processor(image_processor: Any) -> Any:
    if not isinstance(image_processor, (str, Path)):
        return image_processor
    from transformers import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(str(image_processor))


def llava_config(vision_config: Any, text_config: Any, image_token: int, pad_token_id: int | None,
                 select_strategy: str = SELECT_STRATEGY, feature_layer: int = FEATURE_LAYER) -> Any:
    """The LLaVA-1.5 ``LlavaConfig`` for a CLIP-like tower and a LLaMA text config."""
    from transformers import LlavaConfig

    patches = (vision_config.image_size // vision_config.patch_size) ** 2
    config = LlavaConfig(
        vision_config=vision_config, text_config=text_config, image_token_index=image_token,
        image_seq_length=patches, vision_feature_layer=feature_layer, vision_feature_select_strategy=select_strategy,
        projector_hidden_act="gelu", multimodal_projector_bias=True,
    )
    config.pad_token_id = pad_token_id
    return config


def llava_processor(image_processor: Any, tokenizer: Any, patch_size: int, chat_template: str | None = None,
                    select_strategy: str = SELECT_STRATEGY) -> Any:
    """A ``LlavaProcessor`` expanding each ``<image>`` to one placeholder per patch token."""
    from transformers import LlavaProcessor

    return LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
        # "default": the tower adds a CLS token that the model drops; "full": no CLS, nothing dropped
        vision_feature_select_strategy=select_strategy, num_additional_image_tokens=int(select_strategy == "default"),
        image_token=IMAGE_TOKEN, chat_template=chat_template or getattr(tokenizer, "chat_template", None),
    )


def seeded_projector(config: Any, seed: int) -> Any:
    """The new ``mlp2x_gelu`` projector, initialized from ``seed`` alone (the global RNG is left as it was),
    so every rank and every build (whole or ZeRO-3) gets the same weights."""
    import torch
    from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return LlavaMultiModalProjector(config)
    finally:
        torch.random.set_rng_state(generator_state)


def compose_llava(llm: Any, tokenizer: Any, vision: Any, image_processor: Any, attn_implementation: str = "sdpa",
                  dtype: str = "float32", chat_template: str | None = None, seed: int = 0,
                  select_strategy: str = SELECT_STRATEGY, feature_layer: int = FEATURE_LAYER,
                  zero3_config: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """Compose a LLaVA model and its processor.

    ``llm``: a ``LlamaForCausalLM`` (or its folder); ``vision``: a ``CLIPVisionModel`` (or a CLIP
    folder, two-tower or vision-only); ``tokenizer`` and ``image_processor``: objects or folders.
    The projector (Linear(vision_dim, d) - GELU - Linear(d, d)) is initialized from ``seed``.
    ``select_strategy``: "default" drops the tower's CLS token (CLIP), "full" keeps every token (SigLIP);
    ``feature_layer``: the tower's hidden state the projector reads (the vision plugin's).
    Embeddings grow to the tokenizer (to a multiple of 64) when the tokenizer has more tokens.
    ``zero3_config``: a ZeRO-3 DeepSpeed config to build the model partitioned under (collective:
    every rank calls this); the weights then take that config's dtype (see :mod:`.zero3`).
    """
    import torch
    from transformers import LlavaForConditionalGeneration

    from .zero3 import is_zero3, partition_rest, zero3_loading

    tokenizer = _load_tokenizer(tokenizer)
    image_token = image_token_id(tokenizer)
    with zero3_loading(zero3_config):
        llm = _load(llm, "LlamaForCausalLM", dtype, attn_implementation)
        vision = _load(vision, "CLIPVisionModel" if select_strategy == "default" else "SiglipVisionModel", dtype,
                       attn_implementation)
        if len(tokenizer) > llm.get_input_embeddings().num_embeddings:
            llm.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
    image_processor = _load_image_processor(image_processor)
    config = llava_config(vision.config, llm.config, image_token, tokenizer.pad_token_id, select_strategy, feature_layer)
    with torch.device("meta"):  # an empty shell: its big parts are replaced by the pretrained modules
        model = LlavaForConditionalGeneration(config)
    model.model.vision_tower = vision
    model.model.language_model = llm.model
    model.lm_head = llm.lm_head
    model.model.multi_modal_projector = seeded_projector(config, seed)
    model.config.vision_config, model.config.text_config = vision.config, llm.config
    model.generation_config = llm.generation_config
    if is_zero3(zero3_config):
        partition_rest(model, zero3_config)  # the projector (and any resized embeddings): built whole, now sharded
    else:
        model = model.to(getattr(torch, dtype))
    model.set_attn_implementation(attn_implementation)
    model.eval()
    processor = llava_processor(image_processor, tokenizer, int(vision.config.patch_size), chat_template,
                                select_strategy)
    return model, processor


def save_llava(model: Any, processor: Any, out_dir: str | Path) -> Path:
    """Save model + processor into ``out_dir`` via a temporary folder renamed into place."""
    import shutil
    import tempfile

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise HarnessError(f"{out_dir} already exists and is not empty", "pick a new folder or remove it")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        model.save_pretrained(str(tmp))
        processor.save_pretrained(str(tmp))
        if out_dir.exists():
            out_dir.rmdir()
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir
