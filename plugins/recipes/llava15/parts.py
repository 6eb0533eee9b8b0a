"""What the recipe needs from the rest of the harness, built from a resolved config: the composed
VLM (a fresh one per stage), its processor, the renderers per stage, and the training records."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from harness.errors import HarnessError


@dataclass
class Parts:
    # A fresh LlavaForConditionalGeneration (fp32, CPU); given a stage's DeepSpeed config that is ZeRO-3,
    # built partitioned under deepspeed.zero.Init (collective), in that config's dtype (other configs: whole).
    build_model: Callable[..., Any]
    processor: Any  # LlavaProcessor (tokenizer + image processor + chat template)
    render_align: Callable[[list, str], Any]
    render_finetune: Callable[[list, str], Any]
    pad_id: int
    image_token_id: int
    num_image_tokens: int
    description: dict[str, str]  # backbone, vision, data: for the model card
    hidden_size: Optional[int] = None  # the LLM's, for the DeepSpeed config's "auto" bucket sizes
    stop_token_ids: tuple[int, ...] = ()  # ids that end an assistant turn, the chat format's turn end first

    @property
    def turn_end(self) -> Optional[str]:
        """The token that ends an assistant turn in the backbone's chat format (the export's EOS)."""
        return self.processor.tokenizer.convert_ids_to_tokens(self.stop_token_ids[0]) if self.stop_token_ids else None


def build_parts(cfg: Any, device: str = "cpu") -> Parts:
    """Backbone and vision plugins -> composition -> a model builder and processor."""
    from harness.lazy import load_ref
    from harness.model_folders import read_config
    from harness.plugin_manager import get_plugins
    from harness.attention import choose_attention
    from harness_plugins.backbones.render import render_conversation
    from harness_plugins.vlm.build import compose_from_plugins
    from harness_plugins.vlm.compose import image_token_id, llava_processor

    plugins = get_plugins()
    bspec = plugins.registry("backbones").entry(cfg.backbone.name).spec
    vspec = plugins.registry("vision").entry(cfg.vision.name).spec
    backbone = load_ref(bspec.implementation)(bspec.model_card)
    vision = load_ref(vspec.implementation)(vspec.model_card)
    choice = choose_attention(cfg.attention, device)
    attention = choice.name
    b_args = dict(variant=cfg.backbone.variant, path=cfg.backbone.path)
    v_args = dict(variant=cfg.vision.variant, path=cfg.vision.path)
    tokenizer = backbone.load_tokenizer(**b_args)
    image_processor = vision.load_image_processor(**v_args)
    info = vision.info(**v_args)

    def build_model(zero3_config: Optional[dict[str, Any]] = None) -> Any:
        # A fresh composition each time: stage 2 starts from stage 1's projector, never from a reused engine's module.
        model, _ = compose_from_plugins(backbone, vision, backbone_variant=cfg.backbone.variant,
                                        backbone_path=cfg.backbone.path, vision_variant=cfg.vision.variant,
                                        vision_path=cfg.vision.path, attn_implementation=attention,
                                        dtype="float32", seed=cfg.seed, zero3_config=zero3_config)
        model.train()
        return model

    processor = llava_processor(image_processor, tokenizer, int(info.patch_size))
    n_tokens = info.num_image_tokens

    def render_align(conversation: list, sample_id: str) -> Any:
        return render_conversation(conversation, tokenizer, "plain", sample_id, num_image_tokens=n_tokens)

    def render_finetune(conversation: list, sample_id: str) -> Any:
        return backbone.render(conversation, tokenizer, sample_id, num_image_tokens=n_tokens)

    if tokenizer.pad_token_id is None:
        raise HarnessError(f"the {cfg.backbone.name} tokenizer has no pad token", "load it through the backbone plugin")
    return Parts(
        build_model, processor, render_align, render_finetune, int(tokenizer.pad_token_id), image_token_id(tokenizer),
        n_tokens, {"backbone": f"{cfg.backbone.name} ({cfg.backbone.path or cfg.backbone.variant})",
                   "vision": f"{cfg.vision.name} ({cfg.vision.path or cfg.vision.variant})",
                   "attention": f"{choice.name} ({choice.reason})"},
        read_config(backbone.weights_dir(**b_args), "backbone.path").get("hidden_size"),
        tuple(backbone.stop_token_ids(tokenizer)),
    )


def training_records(cfg: Any, scene_sizes: Any = None, seismic_sizes: Any = None) -> tuple[Any, Any, str]:
    """(align records, finetune records, description) from data.train and data.seismic.

    The scene world has its own stage-1 pairs and stage-2 instruction data. A LLaVA JSON (or
    datasets folder) in data.train feeds stage 2, and stage 1 too (each record's first exchange)
    unless data.align names stage 1's own file. Stage 2 also gets the seismic conversations
    data.seismic names (see :mod:`harness_plugins.recipes.llava15.mix`); stage 1 never does.
    ``scene_sizes``/``seismic_sizes`` (SceneDataSizes, SeismicDataSizes) are for tests: runs build the defaults.
    """
    from harness_plugins.data.loader import load_dataset_folder, load_training_data
    from harness_plugins.recipes.llava15.mix import with_seismic

    on_bad_row = getattr(cfg.data.on_bad_row, "value", cfg.data.on_bad_row)
    if cfg.data.train == "scene":
        from harness_plugins.scene.dataset import default_root, ensure_scene_data

        folder = ensure_scene_data(default_root(), seed=int(cfg.data.scene_seed), sizes=scene_sizes)
        align = load_dataset_folder(folder / "align", on_bad_row)
        instruct = load_dataset_folder(folder / "instruct", on_bad_row)
        scene, questions = with_scene_questions(instruct, cfg, on_bad_row, scene_sizes)
        finetune, added = with_seismic(scene, cfg, on_bad_row, seismic_sizes)
        return align, finetune, (f"scene world (seed {cfg.data.scene_seed}): {len(align)} align pairs, "
                                 f"{len(instruct)} instructions{questions}{added}")
    data = load_training_data(cfg.data.train, cfg.data.image_root, on_bad_row)
    finetune, added = with_seismic(data, cfg, on_bad_row, seismic_sizes)
    align_file = cfg.data.align
    if align_file:  # LLaVA-1.5's own split: 558K caption pairs for stage 1, 665K instructions for stage 2
        align = load_training_data(align_file, cfg.data.align_image_root or cfg.data.image_root, on_bad_row)
        return (align, finetune, f"{Path(align_file).name}: {len(align)} align pairs; "
                f"{Path(cfg.data.train).name}: {len(data)} conversations{added}")
    with_image = [r for r in data if r.image is not None]
    return with_image, finetune, f"{Path(cfg.data.train).name}: {len(data)} conversations{added}"


def with_scene_questions(instruct: Any, cfg: Any, on_bad_row: str, scene_sizes: Any = None) -> tuple[Any, str]:
    """(the scene instructions followed by ``data.scene_questions`` questions per instruct image, each
    exchange a record, the image with each; a description of what was added). Unchanged for 0."""
    from harness_plugins.data.loader import load_dataset_folder
    from harness_plugins.data.records import LoadedData
    from harness_plugins.recipes.llava15.mix import ExchangeRecords, MixedRecords
    from harness_plugins.scene.dataset import QUESTIONS_SPLIT, default_root, ensure_question_data

    from harness.config.schema import scene_questions_choice

    k = scene_questions_choice(cfg.data)
    if not k:
        return instruct, ""
    folder = ensure_question_data(default_root(), int(cfg.data.scene_seed), k, scene_sizes)
    questions = LoadedData(records=ExchangeRecords(load_dataset_folder(folder / QUESTIONS_SPLIT, on_bad_row)))
    mixed = LoadedData(records=MixedRecords([instruct, questions]), skipped=instruct.skipped, source=instruct.source)
    return mixed, f"; {len(questions)} short-answer questions ({k} per instruct image, one exchange each)"


def perceive_records(cfg: Any, scene_sizes: Any = None) -> tuple[Any, str]:
    """(the records of the perceive stage ``data.perceive`` names, every exchange its own record with the
    image; a description), or (None, "") when it is unset. ``scene``: the exchanges of ``data.perceive_types``
    (default colour, shape and exists) from the scene world's short-answer question build (``data.scene_questions``
    per instruct image; 8 when that is 0), and of the types only the instruct set asks (description, coordinate)
    from that set; neither shares an image with an evaluation or validation split."""
    from harness_plugins.data.loader import load_training_data
    from harness_plugins.data.records import LoadedData
    from harness_plugins.recipes.llava15.mix import ExchangeRecords, MixedRecords

    from harness.config.schema import SCENE_QUESTIONS_AUTO, scene_questions_choice

    setting, on_bad_row = cfg.data.perceive, getattr(cfg.data.on_bad_row, "value", cfg.data.on_bad_row)
    if setting is None:
        return None, ""
    if setting != "scene":
        loaded = load_training_data(setting, cfg.data.image_root, on_bad_row)
        records = LoadedData(records=ExchangeRecords(loaded), skipped=loaded.skipped, source=loaded.source)
        return records, f"; perceive stage: {Path(setting).name}, {len(records)} exchanges"
    from harness_plugins.scene.dataset import QUESTIONS_SPLIT, default_root, ensure_question_data, ensure_scene_data
    from harness_plugins.scene.language import INSTRUCT_ONLY_TYPES, VQA_TYPES

    types = set(cfg.data.perceive_types)
    asked = [t for t in VQA_TYPES if t in types]
    instruct_only = [t for t in INSTRUCT_ONLY_TYPES if t in types]
    parts, about = [], []
    if asked:
        k = scene_questions_choice(cfg.data) or SCENE_QUESTIONS_AUTO
        folder = ensure_question_data(default_root(), int(cfg.data.scene_seed), k, scene_sizes) / QUESTIONS_SPLIT
        parts.append(_typed_exchanges(folder, asked, on_bad_row))
        about.append(f"{len(parts[-1])} {'/'.join(asked)} questions ({k} per instruct image)")
    if instruct_only:
        scene = ensure_scene_data(default_root(), seed=int(cfg.data.scene_seed), sizes=scene_sizes)
        parts.append(_typed_exchanges(scene / "instruct", instruct_only, on_bad_row))
        about.append(f"{len(parts[-1])} {'/'.join(instruct_only)} exchanges of the instruct set")
    records = LoadedData(records=parts[0] if len(parts) == 1 else MixedRecords(parts), source=parts[0].records.source)
    return records, f"; perceive stage: {' and '.join(about)}"


def _typed_exchanges(folder: Path, types: list[str], on_bad_row: str) -> Any:
    """The exchanges of a scene-world datasets folder (a ``qtypes`` column: one type per exchange) whose type is
    one of ``types``, each its own record with the image."""
    import datasets

    from harness_plugins.data.loader import load_dataset_folder
    from harness_plugins.recipes.llava15.mix import ExchangeRecords

    loaded = load_dataset_folder(folder, on_bad_row)
    qtypes = datasets.load_from_disk(str(folder))["qtypes"]
    if len(qtypes) != len(loaded):
        raise HarnessError(f"{folder} has rows that do not load ({len(qtypes) - len(loaded)})",
                           "delete the folder; the next run rebuilds it")
    wanted = set(types)
    return ExchangeRecords(loaded, keep=lambda i, j: qtypes[i][j] in wanted)
