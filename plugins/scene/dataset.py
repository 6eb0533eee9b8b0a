"""Writes the scene world as Hugging Face ``datasets`` folders: align pairs, instruction data, eval sets.

Layout of one build (``ensure_scene_data(root, seed)`` returns the folder)::

    <root>/seed0/                      (seed0-<hash> when sizes differ from the defaults)
        manifest.json                  seed, generator version, sizes, counts, fingerprint
        align/                         Dataset: id, image, caption, conversations (LLaVA ``plain``)
        instruct/                      Dataset: id, image, conversations (multi-turn), qtypes
        vqa_scene/ scene_description/ coordinate_prediction/
                                       DatasetDict {"test": ...}: id, image, prompt, answer, qtype, capability, scene
        vqa_scene_val/ scene_description_val/ coordinate_prediction_val/
                                       the same tasks on other scenes: the validation split, for choosing
                                       hyperparameters and budgets (the evaluation sets are for reporting)
        vqa_scene_pixel_noise/ vqa_scene_paraphrase/
                                       vqa_scene with each doc perturbed (see perturb.py)
    <root>/seed0-questions<k>/         data.scene_questions=k, built on demand beside the build (which it
        manifest.json                  never changes): questions/, up to k independent short-answer
        questions/                     questions per instruct image (ensure_question_data)

Every image of every split comes from one seeded stream of scenes with duplicates skipped, so no
two splits share an image, hence no (scene, question) pair. The build happens in a temporary
folder that is renamed into place, so a reader never sees half a dataset.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

from .language import (
    COORDINATE_TYPE,
    DESCRIBE_PROMPT,
    DESCRIPTION_TYPE,
    REASONING_TYPES,
    SHORT_ANSWER_HINT,
    VQA_TYPES,
    caption,
    coordinate_question,
    describe,
    vqa_questions,
)
from .model import DEFAULT_IMAGE_SIZE, GENERATOR_VERSION, Scene, generate_scene, render
from .perturb import PERTURBATIONS, perturbed_rows

EVAL_TASKS: tuple[str, ...] = ("vqa_scene", "scene_description", "coordinate_prediction")
# The same tasks on scenes no evaluation set shares: selection happens here, reporting on EVAL_TASKS.
VALIDATION_TASKS: tuple[str, ...] = tuple(f"{t}_val" for t in EVAL_TASKS)
# Perturbed copies of vqa_scene (same docs, same order), for the representation-stability analysis.
PERTURBED_TASKS: tuple[str, ...] = tuple(f"vqa_scene_{p}" for p in PERTURBATIONS)
TRAIN_SPLITS: tuple[str, ...] = ("align", "instruct")
QUESTIONS_SPLIT = "questions"  # the split of a questions build (ensure_question_data), not of the scene build
MANIFEST = "manifest.json"
IMAGE_TOKEN = "<image>"

Progress = Callable[[str, int, int], None]  # (split, done, total)


@dataclass(frozen=True)
class SceneDataSizes:
    """How much to build. The defaults keep CPU training of the tiny organisms to minutes."""

    align: int = 3000
    instruct: int = 3000
    eval: int = 300  # items per evaluation task
    validation: int = 300  # items per validation task
    image_size: int = DEFAULT_IMAGE_SIZE

    def counts(self) -> dict[str, int]:
        return {"align": self.align, "instruct": self.instruct, **{t: self.eval for t in EVAL_TASKS},
                **{t: self.validation for t in VALIDATION_TASKS}}


def vqa_prompt(question: str) -> str:
    """The prompt for a short-answer question, the same in training and evaluation."""
    return f"{question}\n{SHORT_ANSWER_HINT}"


def _fingerprint(seed: int, sizes: SceneDataSizes) -> str:
    text = json.dumps({"version": GENERATOR_VERSION, "seed": seed, **asdict(sizes)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_root() -> Path:
    """Where the harness keeps scene data: ``$HARNESS_HOME/data/scene``."""
    from harness.paths import home

    return home() / "data" / "scene"


def data_dir(root: Path, seed: int = 0, sizes: SceneDataSizes | None = None) -> Path:
    """Where the build for (seed, sizes) lives under ``root``."""
    sizes = sizes or SceneDataSizes()
    name = f"seed{seed}" if sizes == SceneDataSizes() else f"seed{seed}-{_fingerprint(seed, sizes)[:8]}"
    return Path(root) / name


def _scenes(seed: int, sizes: SceneDataSizes):
    """(split, index, scene, rng) for all splits in a fixed order, never repeating a scene."""
    rng = random.Random(seed)
    seen: set[str] = set()
    for split, count in sizes.counts().items():
        i = 0
        while i < count:
            scene = generate_scene(rng, image_size=sizes.image_size)
            key = json.dumps(scene.to_dict()["objects"], sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            yield split, i, scene, rng
            i += 1


def _turn(human: str, gpt: str) -> list[dict[str, str]]:
    return [{"from": "human", "value": human}, {"from": "gpt", "value": gpt}]


def _instruct_conversation(scene: Scene, rng: random.Random) -> tuple[list[dict[str, str]], list[str]]:
    """One short-answer question first, then sometimes a description and a coordinate turn;
    ``<image>`` opens the first human turn.

    Never two short-answer questions, and never a description before one: a second question or a
    description names the objects ("Is the green diamond below ...?") and answers the other question
    ("What colour is the diamond?") from the text alone, which rewards reading the conversation
    instead of the image. In the earlier mix of 1-3 shuffled turns, 38% of the colour and 39% of the
    shape questions had their answer word in an earlier turn of the same conversation.
    """
    turns: list[tuple[str, str, str]] = [
        (vqa_prompt(q.question), q.answer, q.qtype) for q in vqa_questions(scene, rng, n=1)
    ]
    if rng.random() < 0.35 or not turns:  # a scene with no askable question still gets a supervised turn
        turns.append((DESCRIBE_PROMPT, describe(scene), DESCRIPTION_TYPE))
    if rng.random() < 0.35:
        q = coordinate_question(scene, rng)
        turns.append((q.question, q.answer, COORDINATE_TYPE))
    conversation: list[dict[str, str]] = []
    for k, (human, gpt, _) in enumerate(turns):
        conversation += _turn(f"{IMAGE_TOKEN}\n{human}" if k == 0 else human, gpt)
    return conversation, [t for _, _, t in turns]


def _eval_row(task: str, scene: Scene, rng: random.Random) -> dict[str, Any]:
    if task == "vqa_scene":
        q = (vqa_questions(scene, rng, n=1, qtypes=(rng.choice(VQA_TYPES),)) or vqa_questions(scene, rng, n=1)
             or vqa_questions(scene, rng, n=1, qtypes=("count",)))  # a count question is always askable
        prompt, answer, qtype = vqa_prompt(q[0].question), q[0].answer, q[0].qtype
    elif task == "scene_description":
        prompt, answer, qtype = DESCRIBE_PROMPT, describe(scene), DESCRIPTION_TYPE
    else:
        q = coordinate_question(scene, rng)
        prompt, answer, qtype = q.question, q.answer, q.qtype
    return {"prompt": prompt, "answer": answer, "qtype": qtype, "capability": capability_of(qtype)}


def capability_of(qtype: str) -> str:
    """The capability group of a question type: perception, reasoning or structured output."""
    if qtype in REASONING_TYPES:
        return "reasoning"
    return "structured-output" if qtype == COORDINATE_TYPE else "perception"


def _row(split: str, index: int, scene: Scene, rng: random.Random) -> dict[str, Any]:
    row: dict[str, Any] = {"id": f"{split}-{index:06d}", "image": render(scene)}
    if split == "align":
        text = caption(scene)
        row.update(caption=text, conversations=_turn(IMAGE_TOKEN, text))
    elif split == "instruct":
        row["conversations"], row["qtypes"] = _instruct_conversation(scene, rng)
    else:
        row.update(_eval_row(split.removesuffix("_val"), scene, rng), scene=json.dumps(scene.to_dict()))
    return row


def build_scene_data(out: Path, seed: int = 0, sizes: SceneDataSizes | None = None,
                     progress: Progress | None = None) -> Path:
    """Build every split into ``out`` (which must not exist yet): temp folder, then rename."""
    import datasets

    datasets.disable_progress_bars()  # ours (or none) is enough
    sizes = sizes or SceneDataSizes()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    rows: dict[str, list[dict[str, Any]]] = {split: [] for split in sizes.counts()}
    totals = sizes.counts()
    try:
        for split, index, scene, rng in _scenes(seed, sizes):
            rows[split].append(_row(split, index, scene, rng))
            if progress:
                progress(split, index + 1, totals[split])
        for perturbation, task in zip(PERTURBATIONS, PERTURBED_TASKS):
            rows[task] = perturbed_rows(rows["vqa_scene"], perturbation, seed)
        for split, items in rows.items():
            features = _features(split)
            ds = datasets.Dataset.from_list(items, features=features)
            target = tmp / split
            if split in EVAL_TASKS + PERTURBED_TASKS + VALIDATION_TASKS:
                datasets.DatasetDict({"test": ds}).save_to_disk(str(target))
            else:
                ds.save_to_disk(str(target))
        manifest = {
            "generator": "harness_plugins.scene", "generator_version": GENERATOR_VERSION, "seed": seed,
            "sizes": asdict(sizes), "counts": {k: len(v) for k, v in rows.items()},
            "fingerprint": _fingerprint(seed, sizes), "eval_tasks": list(EVAL_TASKS + PERTURBED_TASKS),
            "validation_tasks": list(VALIDATION_TASKS),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        try:
            os.rename(tmp, out)
        except OSError:
            if not (out / MANIFEST).is_file():  # not another process that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _features(split: str):
    import datasets

    turn = {"from": datasets.Value("string"), "value": datasets.Value("string")}
    base = {"id": datasets.Value("string"), "image": datasets.Image()}
    if split == "align":
        extra = {"caption": datasets.Value("string"), "conversations": datasets.List(turn)}
    elif split == "instruct":
        extra = {"conversations": datasets.List(turn), "qtypes": datasets.List(datasets.Value("string"))}
    else:
        extra = {k: datasets.Value("string") for k in ("prompt", "answer", "qtype", "capability", "scene")}
    return datasets.Features({**base, **extra})


# ---------------------------------------------------------------------------------------------
# data.scene_questions: k independent short-answer questions per instruct image, built on demand

QUESTIONS_VERSION = 1  # of the questions build below; part of its fingerprint
MAX_SCENE_QUESTIONS = 32


def questions_dir(root: Path, seed: int, k: int, sizes: SceneDataSizes | None = None) -> Path:
    """Where the k-questions build of (seed, sizes) lives: beside the scene build, never inside it."""
    base = data_dir(root, seed, sizes)
    return base.with_name(f"{base.name}-questions{k}")


def _questions_fingerprint(seed: int, k: int, sizes: SceneDataSizes) -> str:
    text = json.dumps({"scenes": _fingerprint(seed, sizes), "k": k, "version": QUESTIONS_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def instruct_scenes(seed: int, sizes: SceneDataSizes):
    """(index, scene) of the instruct split of the build (seed, sizes), in order: its scene stream
    replayed, each row's random draws made as :func:`_row` makes them, nothing rendered. So these are
    the instruct images, and no evaluation or validation split shares a scene with them."""
    for split, index, scene, rng in _scenes(seed, sizes):
        if split == "instruct":
            _instruct_conversation(scene, rng)
            yield index, scene
        elif split != "align":  # align draws nothing; the splits after instruct are not needed
            return


def question_rows(seed: int, k: int, sizes: SceneDataSizes) -> list[dict[str, Any]]:
    """Per instruct scene, up to k distinct short-answer questions (the evaluation's types and prompts),
    as one row of k exchanges, ``<image>`` in the first human turn. The exchanges are independent and
    each names objects that may answer another, so they must never be trained as one conversation:
    the recipe reads them one exchange a record (mix.ExchangeRecords), packed only under a block mask."""
    rng = random.Random(f"scene-questions/{seed}")  # its own stream: the scene build's draws stay as they are
    rows = []
    for index, scene in instruct_scenes(seed, sizes):
        questions = vqa_questions(scene, rng, n=k)
        if not questions:
            continue
        conversation: list[dict[str, str]] = []
        for j, q in enumerate(questions):
            conversation += _turn(f"{IMAGE_TOKEN}\n{vqa_prompt(q.question)}" if j == 0 else vqa_prompt(q.question), q.answer)
        rows.append({"id": f"questions-{index:06d}", "image": render(scene), "conversations": conversation,
                     "qtypes": [q.qtype for q in questions]})
    return rows


def ensure_question_data(root: Path, seed: int, k: int, sizes: SceneDataSizes | None = None) -> Path:
    """The k-questions build of (seed, sizes) under ``root``: reused when current, else built (a
    temporary folder renamed into place). The scene build itself is neither read nor changed."""
    import datasets

    if not (isinstance(k, int) and 1 <= k <= MAX_SCENE_QUESTIONS):
        raise HarnessError(f"data.scene_questions={k!r} is invalid here: it must be an integer from 1 to {MAX_SCENE_QUESTIONS}",
                           "set data.scene_questions")
    sizes = sizes or SceneDataSizes()
    out, fingerprint = questions_dir(root, seed, k, sizes), _questions_fingerprint(seed, k, sizes)
    if out.exists():
        if (out / MANIFEST).is_file() and read_manifest(out).get("fingerprint") == fingerprint:
            return out
        aside = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, aside)
        shutil.rmtree(aside, ignore_errors=True)
    datasets.disable_progress_bars()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        rows = question_rows(seed, k, sizes)
        datasets.Dataset.from_list(rows, features=_features("instruct")).save_to_disk(str(tmp / QUESTIONS_SPLIT))
        manifest = {"generator": "harness_plugins.scene questions", "version": QUESTIONS_VERSION, "seed": seed, "k": k,
                    "sizes": asdict(sizes), "rows": len(rows), "questions": sum(len(r["qtypes"]) for r in rows),
                    "fingerprint": fingerprint}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        try:
            os.rename(tmp, out)
        except OSError:
            if not (out / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a build; one-line error when the folder is not one."""
    path = Path(folder) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HarnessError(f"{folder} is not a scene data build ({path.name}: {exc})",
                           "run `harness data build` or delete the folder so it is rebuilt") from None


def ensure_scene_data(root: Path, seed: int = 0, sizes: SceneDataSizes | None = None,
                      progress: Progress | None = None, rebuild: bool = False) -> Path:
    """The build for (seed, sizes) under ``root``: reused when present and current, built otherwise."""
    sizes = sizes or SceneDataSizes()
    out = data_dir(root, seed, sizes)
    if out.exists():
        current = (out / MANIFEST).is_file() and read_manifest(out).get("fingerprint") == _fingerprint(seed, sizes)
        if current and not rebuild:
            return out
        # stale (older generator version) or asked to rebuild: move aside atomically, then delete
        aside = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, aside)
        shutil.rmtree(aside, ignore_errors=True)
    return build_scene_data(out, seed, sizes, progress)
