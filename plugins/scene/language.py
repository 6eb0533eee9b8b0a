"""Texts about scenes: captions, descriptions (and their parser), questions with answers, a text corpus.

The description grammar is fixed so that :func:`parse_description` can read a model's description
back into objects for the attribute-F1 metric. Questions carry a type: perception (colour, shape,
exists), reasoning (count, compare, spatial, composition) or structured output (coordinate).
"""
from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from .model import COLOURS, SHAPES, SIZES, Scene, SceneObject, as_rng, generate_scene

PERCEPTION_TYPES: tuple[str, ...] = ("colour", "shape", "exists")
REASONING_TYPES: tuple[str, ...] = ("count", "compare", "spatial", "composition")
VQA_TYPES: tuple[str, ...] = PERCEPTION_TYPES + REASONING_TYPES
COORDINATE_TYPE = "coordinate"
DESCRIPTION_TYPE = "description"
INSTRUCT_ONLY_TYPES: tuple[str, ...] = (DESCRIPTION_TYPE, COORDINATE_TYPE)  # asked by the instruct set alone
REGIONS: tuple[str, ...] = ("top left", "top right", "bottom left", "bottom right", "top", "bottom",
                            "left", "right", "centre")
NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                 "nine", "ten")
SHORT_ANSWER_HINT = "Answer with a single word or number."
COORDINATE_PROMPT = ("Give the centre of the {name} as JSON with keys x and y, "
                     "normalised to [0, 1] from the top left corner.")
DESCRIBE_PROMPT = "Describe the scene: every object with its size, colour, shape and position."
_MARGIN = 0.12  # spatial relations are asked only when the centres differ by more than this


class Question(NamedTuple):
    """A question about one scene, its short answer and its type (unpacks as a 3-tuple)."""

    question: str
    answer: str
    qtype: str


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _phrase(obj: SceneObject, size: bool = True) -> str:
    words = f"{obj.size} {obj.colour} {obj.shape}" if size else obj.name
    return f"{_article(words)} {words}"


def _at(region: str) -> str:
    if region == "centre":
        return "in the centre"
    return f"on the {region}" if region in ("left", "right") else f"at the {region}"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def count_word(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def caption(scene: Scene) -> str:
    """A short caption in the style of LLaVA's ``plain`` alignment data."""
    return _join([_phrase(o, size=False) for o in scene.objects]) + "."


def describe(scene: Scene) -> str:
    """A full description: count, then every object with size, colour, shape and position, then overlaps."""
    n = len(scene.objects)
    parts = [f"There {'is' if n == 1 else 'are'} {count_word(n)} object{'' if n == 1 else 's'}."]
    for obj in scene.objects:
        text = f"{_phrase(obj)} {_at(obj.region)}."
        parts.append(text[0].upper() + text[1:])
    for i, a in enumerate(scene.objects):
        for b in scene.objects[i + 1:]:
            if a.overlaps and b.overlaps and _touch(a, b):
                parts.append(f"The {a.name} overlaps the {b.name}.")
    return " ".join(parts)


def _touch(a: SceneObject, b: SceneObject) -> bool:
    ax0, ay0, ax1, ay1 = a.bbox
    bx0, by0, bx1, by1 = b.bbox
    return ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1


_OBJECT_RE = re.compile(
    r"(?:\b(?P<size>" + "|".join(SIZES) + r")\s+)?\b(?P<colour>" + "|".join(COLOURS) + r")\s+"
    r"(?P<shape>" + "|".join(SHAPES) + r")s?\b"
    r"(?:\s+(?:is\s+)?(?:at|in|on)\s+the\s+(?P<region>" + "|".join(REGIONS) + r")\b)?",
    re.IGNORECASE,
)


def parse_description(text: str) -> list[dict[str, str | None]]:
    """Objects mentioned in a description: dicts with colour, shape, and size/region when stated.

    Overlap sentences ("The red circle overlaps the blue square.") name known objects again; they are
    dropped so that each object counts once.
    """
    text = re.sub(r"\bcenter\b", "centre", text, flags=re.IGNORECASE)
    text = re.sub(r"[^.]*\boverlaps\b[^.]*\.?", " ", text, flags=re.IGNORECASE)
    found = []
    for m in _OBJECT_RE.finditer(text):
        found.append({k: (v.lower() if v else None) for k, v in m.groupdict().items()})
    return found


# ---------------------------------------------------------------------------------------------
# Questions

def _reference(scene: Scene, obj: SceneObject, hide: str) -> str | None:
    """The shortest unambiguous name for ``obj`` that does not give away the attribute ``hide``."""
    keep = "shape" if hide == "colour" else "colour"
    candidates = [
        (lambda o: getattr(o, keep) == getattr(obj, keep), lambda: getattr(obj, keep)),
        (lambda o: getattr(o, keep) == getattr(obj, keep) and o.size == obj.size,
         lambda: f"{obj.size} {getattr(obj, keep)}"),
        (lambda o: getattr(o, keep) == getattr(obj, keep) and o.region == obj.region,
         lambda: f"{getattr(obj, keep)} {_at(obj.region)}"),
    ]
    for matches, name in candidates:
        if sum(1 for o in scene.objects if matches(o)) == 1:
            text = name()
            return text.replace(obj.colour, f"{obj.colour} object", 1) if keep == "colour" else text
    return None


def _ask_colour(scene: Scene, rng: random.Random) -> Question | None:
    obj = rng.choice(scene.objects)
    ref = _reference(scene, obj, hide="colour")
    return Question(f"What colour is the {ref}?", obj.colour, "colour") if ref else None


def _ask_shape(scene: Scene, rng: random.Random) -> Question | None:
    obj = rng.choice(scene.objects)
    ref = _reference(scene, obj, hide="shape")
    return Question(f"What shape is the {ref}?", obj.shape, "shape") if ref else None


def _ask_exists(scene: Scene, rng: random.Random) -> Question:
    if rng.random() < 0.5:
        obj = rng.choice(scene.objects)
        return Question(f"Is there {_article(obj.colour)} {obj.name} in the image?", "yes", "exists")
    # near misses (a present colour or a present shape) make "no" a perception question
    anchor = rng.choice(scene.objects)
    absent = [(c, s) for c in COLOURS for s in SHAPES
              if scene.find(c, s) is None and (c == anchor.colour or s == anchor.shape)]
    colour, shape = rng.choice(absent)
    return Question(f"Is there {_article(colour)} {colour} {shape} in the image?", "no", "exists")


def _ask_count(scene: Scene, rng: random.Random) -> Question:
    kind = rng.choice(("objects", "shape", "colour"))
    if kind == "objects":
        return Question("How many objects are there?", str(len(scene.objects)), "count")
    if kind == "shape":
        shape = rng.choice(SHAPES)
        n = sum(o.shape == shape for o in scene.objects)
        return Question(f"How many {shape}s are there?", str(n), "count")
    colour = rng.choice(tuple(COLOURS))
    n = sum(o.colour == colour for o in scene.objects)
    return Question(f"How many {colour} objects are there?", str(n), "count")


def _ask_compare(scene: Scene, rng: random.Random) -> Question | None:
    if len(scene.objects) >= 2 and rng.random() < 0.5:
        a, b = rng.sample(scene.objects, 2)
        if a.size != b.size:
            return Question(f"Is the {a.name} larger than the {b.name}?",
                            "yes" if a.size == "large" else "no", "compare")
    s1, s2 = rng.sample(SHAPES, 2)
    n1, n2 = (sum(o.shape == s for o in scene.objects) for s in (s1, s2))
    if n1 == n2:
        return Question(f"Are there as many {s1}s as {s2}s?", "yes", "compare")
    return Question(f"Are there more {s1}s than {s2}s?", "yes" if n1 > n2 else "no", "compare")


def relation(a: SceneObject, b: SceneObject) -> str | None:
    """'left', 'right', 'above' or 'below': where ``a`` is relative to ``b`` (None if too close to call)."""
    dx, dy = a.x - b.x, a.y - b.y
    if max(abs(dx), abs(dy)) < _MARGIN:
        return None
    if abs(dx) >= abs(dy):
        return "left" if dx < 0 else "right"
    return "above" if dy < 0 else "below"


_RELATION_PHRASE = {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below"}


def _ask_spatial(scene: Scene, rng: random.Random) -> Question | None:
    if len(scene.objects) < 2:
        return None
    a, b = rng.sample(scene.objects, 2)
    rel = relation(a, b)
    if rel is None:
        return None
    if rng.random() < 0.4:
        return Question(f"Is the {a.name} to the left, right, above or below the {b.name}?", rel, "spatial")
    asked = rng.choice(tuple(_RELATION_PHRASE))
    holds = _holds(a, b, asked)
    if holds is None:
        return None
    return Question(f"Is the {a.name} {_RELATION_PHRASE[asked]} the {b.name}?", "yes" if holds else "no", "spatial")


def _holds(a: SceneObject, b: SceneObject, rel: str) -> bool | None:
    """Whether ``rel`` holds along its own axis, None when the centres are too close on it."""
    d = (a.x - b.x) if rel in ("left", "right") else (a.y - b.y)
    if abs(d) < _MARGIN:
        return None
    return d < 0 if rel in ("left", "above") else d > 0


def _ask_composition(scene: Scene, rng: random.Random) -> Question | None:
    if len(scene.objects) < 3:
        return None
    anchor = rng.choice(scene.objects)
    others = [o for o in scene.objects if o is not anchor]
    if rng.random() < 0.5:
        dist = sorted(others, key=lambda o: (o.x - anchor.x) ** 2 + (o.y - anchor.y) ** 2)
        d0 = (dist[0].x - anchor.x) ** 2 + (dist[0].y - anchor.y) ** 2
        d1 = (dist[1].x - anchor.x) ** 2 + (dist[1].y - anchor.y) ** 2
        if d1 < 1.7 * d0:  # the nearest must be clearly nearest (distances squared)
            return None
        attr = rng.choice(("colour", "shape"))
        return Question(f"What {attr} is the object closest to the {anchor.name}?",
                        getattr(dist[0], attr), "composition")
    rel = rng.choice(tuple(_RELATION_PHRASE))
    verdicts = [_holds(o, anchor, rel) for o in others]
    if any(v is None for v in verdicts):
        return None
    counted = [o for o, v in zip(others, verdicts) if v]
    if rng.random() < 0.5:
        n = len(counted)
        return Question(f"How many objects are {_RELATION_PHRASE[rel]} the {anchor.name}?", str(n), "composition")
    colour = rng.choice([o.colour for o in others])
    n = sum(o.colour == colour for o in counted)
    return Question(f"How many {colour} objects are {_RELATION_PHRASE[rel]} the {anchor.name}?",
                    str(n), "composition")


_ASKERS = {
    "colour": _ask_colour, "shape": _ask_shape, "exists": _ask_exists, "count": _ask_count,
    "compare": _ask_compare, "spatial": _ask_spatial, "composition": _ask_composition,
}


def ask(scene: Scene, qtype: str, rng_or_seed: random.Random | int, tries: int = 20) -> Question | None:
    """One question of type ``qtype`` about ``scene``, or None when the scene does not allow one."""
    if qtype == COORDINATE_TYPE:
        return coordinate_question(scene, rng_or_seed)
    rng = as_rng(rng_or_seed)
    for _ in range(tries):
        q = _ASKERS[qtype](scene, rng)
        if q is not None:
            return q
    return None


def vqa_questions(scene: Scene, rng_or_seed: random.Random | int, n: int = 3,
                  qtypes: tuple[str, ...] = VQA_TYPES) -> list[Question]:
    """Up to ``n`` distinct short-answer questions of random types about one scene."""
    rng = as_rng(rng_or_seed)
    out: list[Question] = []
    for _ in range(n * 4):
        if len(out) == n:
            break
        q = ask(scene, rng.choice(qtypes), rng)
        if q is not None and all(q.question != p.question for p in out):
            out.append(q)
    return out


def coordinate_answer(obj: SceneObject) -> str:
    """The JSON answer for an object's centre, e.g. '{"x": 0.42, "y": 0.17}'."""
    return json.dumps({"x": round(obj.x, 2), "y": round(obj.y, 2)})


def coordinate_question(scene: Scene, rng_or_seed: random.Random | int) -> Question:
    """'Give the centre of the red square as JSON ...' with its JSON answer."""
    obj = as_rng(rng_or_seed).choice(scene.objects)
    return Question(COORDINATE_PROMPT.format(name=obj.name), coordinate_answer(obj), COORDINATE_TYPE)


# ---------------------------------------------------------------------------------------------
# A text corpus for pretraining the language organisms

DEFAULT_CORPUS_MIX: Mapping[str, float] = {
    "description": 3, "caption": 1, "qa": 3, "relation": 2, "count": 1, "arithmetic": 2, "json": 1, "filler": 1,
}
_FILLER = (
    "Shapes can be " + _join(list(SHAPES)).replace(" and ", " or ") + ".",
    "Colours include " + _join(list(COLOURS)) + ".",
    "An object can be small or large.",
    "The image is a square; its top left corner is the origin.",
    "A position is given by x from left to right and y from top to bottom.",
    "Each scene has between one and six objects.",
    "Left is the opposite of right, and above is the opposite of below.",
    "Questions are answered with a single word or number.",
)


def _arithmetic(rng: random.Random) -> str:
    a, b = rng.randint(0, 9), rng.randint(0, 9)
    op = rng.choice(("+", "-", "plus", "minus", "more"))
    if op in ("-", "minus") and b > a:
        a, b = b, a
    if op == "plus":  # keep number words within one to ten
        b = min(b, 10 - a)
    if op == "+":
        return f"{a} + {b} = {a + b}."
    if op == "-":
        return f"{a} - {b} = {a - b}."
    if op == "plus":
        return f"{count_word(a)} plus {count_word(b)} is {count_word(a + b)}."
    if op == "minus":
        return f"{count_word(a)} minus {count_word(b)} is {count_word(a - b)}."
    return f"{b} more than {a} is {a + b}."


def _relations(scene: Scene) -> str:
    lines = []
    for a in scene.objects:
        for b in scene.objects:
            rel = relation(a, b) if a is not b else None
            if rel:
                lines.append(f"The {a.name} is {_RELATION_PHRASE[rel]} the {b.name}.")
    return " ".join(lines) or f"The {scene.objects[0].name} is alone."


def corpus(seed: int, n: int, mix: Mapping[str, float] | None = None) -> Iterator[str]:
    """``n`` short documents of scene-world text (deterministic for a seed).

    ``mix`` weights the kinds of document (see ``DEFAULT_CORPUS_MIX``); an organism that should
    see less structured output can, for example, lower ``json``.
    """
    weights = dict(DEFAULT_CORPUS_MIX if mix is None else mix)
    unknown = set(weights) - set(DEFAULT_CORPUS_MIX)
    if unknown:
        raise ValueError(f"unknown corpus kinds {sorted(unknown)}; known: {sorted(DEFAULT_CORPUS_MIX)}")
    kinds, w = zip(*weights.items())
    rng = random.Random(seed)
    for _ in range(n):
        kind = rng.choices(kinds, weights=w)[0]
        scene = generate_scene(rng)
        if kind == "description":
            yield describe(scene)
        elif kind == "caption":
            yield caption(scene).capitalize()
        elif kind == "qa":
            yield " ".join(f"Question: {q.question} Answer: {q.answer}." for q in vqa_questions(scene, rng, 3))
        elif kind == "relation":
            yield _relations(scene)
        elif kind == "count":
            shape = rng.choice(SHAPES)
            k = sum(o.shape == shape for o in scene.objects)
            yield f"{describe(scene)} So there {'is' if k == 1 else 'are'} {count_word(k)} {shape}{'' if k == 1 else 's'}."
        elif kind == "arithmetic":
            yield " ".join(_arithmetic(rng) for _ in range(rng.randint(1, 4)))
        elif kind == "json":
            q = coordinate_question(scene, rng)
            yield f"{q.question} {q.answer}"
        else:
            yield " ".join(rng.sample(_FILLER, rng.randint(1, 3)))
