"""Texts about seismic sections: the structured description, its parser, and coordinate questions.

The description grammar is fixed, one sentence per structure, so :func:`parse_description` reads a
model's description back into structure-level facts (:func:`description_facts`) for the F1 metric::

    There are three horizons, dipping to the right. The horizons fold into an anticline.
    A normal fault dips to the left in the centre. A reverse fault dips to the right on the right.
    There is a salt body at the bottom centre.

Positions use the scene world's thirds (``region_of``): a fault by its midpoint's column (left,
centre, right), a body by its centre (top left ... bottom right).
"""
from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any, NamedTuple

from harness_plugins.scene.language import NUMBER_WORDS, count_word
from harness_plugins.scene.model import region_of

from .model import BODY_KINDS, DIRECTIONS, FAULT_TYPES, FOLDS, Body, Fault, Section, as_rng

DESCRIBE_PROMPT = ("Describe the seismic section: the horizons with their dip and folding, every fault "
                   "with its type, dip direction and position, and any salt body or channel.")
COORDINATE_PROMPT = ("Give the {point} of {name} as JSON with keys x and y, "
                     "normalised to [0, 1] from the top left corner.")
DESCRIPTION_TYPE = "description"
COORDINATE_TYPES: tuple[str, ...] = ("fault_upper_end", "fault_lower_end", "body_centre", "horizon_left_end")
REGIONS: tuple[str, ...] = ("top left", "top right", "bottom left", "bottom right", "top", "bottom",
                            "left", "right", "centre")


class Question(NamedTuple):
    """A question about one section, its JSON answer and its type (unpacks as a 3-tuple)."""

    question: str
    answer: str
    qtype: str


def _at(region: str) -> str:
    if region == "centre":
        return "in the centre"
    return f"on the {region}" if region in ("left", "right") else f"at the {region}"


def fault_column(fault: Fault) -> str:
    """'left', 'centre' or 'right': the third of the section holding the fault's midpoint."""
    return region_of(fault.midpoint[0], 0.5)


def body_region(body: Body) -> str:
    return region_of(body.x, body.y)


def describe(section: Section) -> str:
    """The reference description: horizons (count, dip, fold), then each fault left to right, then bodies."""
    n = len(section.horizons)
    lay = "nearly flat" if section.dip == "flat" else f"dipping to the {section.dip}"
    parts = [f"There {'is' if n == 1 else 'are'} {count_word(n)} horizon{'' if n == 1 else 's'}, {lay}."]
    if section.fold:
        parts.append(f"The horizons fold into {'an' if section.fold == 'anticline' else 'a'} {section.fold}.")
    faults = section.faults_left_to_right()
    if not faults:
        parts.append("There are no faults.")
    for fault in faults:
        parts.append(f"A {fault.kind} fault dips to the {fault.dip} {_at(fault_column(fault))}.")
    for body in section.bodies:
        parts.append(f"There is a {body.kind} {_at(body_region(body))}.")
    return " ".join(parts)


_NUMBER = r"(?P<n>\d+|" + "|".join(NUMBER_WORDS) + r")"
_HORIZONS_RE = re.compile(_NUMBER + r"\s+horizons?\b", re.IGNORECASE)
_DIP_RE = re.compile(r"\bdipping\s+to\s+the\s+(?P<dip>left|right)\b|\b(?P<flat>flat)\b", re.IGNORECASE)
_FOLD_RE = re.compile(r"\b(?P<fold>" + "|".join(FOLDS) + r")\b", re.IGNORECASE)
_REGION = r"(?:\s+(?:is\s+)?(?:at|in|on)\s+the\s+(?P<region>" + "|".join(REGIONS) + r"))?"
_FAULT_RE = re.compile(r"\b(?P<kind>" + "|".join(FAULT_TYPES) + r")\s+fault\s+dips\s+to\s+the\s+"
                       r"(?P<dip>" + "|".join(DIRECTIONS) + r")\b" + _REGION, re.IGNORECASE)
_BODY_RE = re.compile(r"\b(?P<kind>salt\s+body|channel)\b" + _REGION, re.IGNORECASE)


def _number(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else NUMBER_WORDS.index(word)


def parse_description(text: str) -> dict[str, Any]:
    """The structures a description states: ``{"horizons": int|None, "dip": str|None, "fold": str|None,
    "faults": [{"kind", "dip", "column"}], "bodies": [{"kind", "region"}]}``; unstated parts are None/empty."""
    text = re.sub(r"\bcenter\b", "centre", text or "", flags=re.IGNORECASE)
    parsed: dict[str, Any] = {"horizons": None, "dip": None, "fold": None, "faults": [], "bodies": []}
    for sentence in re.split(r"(?<=[.!?;])\s+|\n+", text):
        if re.search(r"\bfault\b", sentence, re.IGNORECASE):
            parsed["faults"] += [{"kind": m["kind"].lower(), "dip": m["dip"].lower(),
                                  "column": m["region"].lower() if m["region"] else None}
                                 for m in _FAULT_RE.finditer(sentence)]
            continue
        # any other sentence may state the layering (the first statement counts) and bodies
        if (m := _HORIZONS_RE.search(sentence)) and parsed["horizons"] is None:
            parsed["horizons"] = _number(m["n"])
        if (m := _DIP_RE.search(sentence)) and parsed["dip"] is None:
            parsed["dip"] = (m["dip"] or "flat").lower()
        if (m := _FOLD_RE.search(sentence)) and parsed["fold"] is None:
            parsed["fold"] = m["fold"].lower()
        for m in _BODY_RE.finditer(sentence):
            kind = re.sub(r"\s+", " ", m["kind"].lower())
            parsed["bodies"].append({"kind": kind, "region": m["region"].lower() if m["region"] else None})
    return parsed


def description_facts(parsed: Mapping[str, Any]) -> Counter:
    """Structure-level facts of a parsed description (or of :func:`annotation_structures`): the horizon
    count, their dip, their fold; each fault's type+dip and its column; each body's kind and region."""
    facts: Counter = Counter()
    for key in ("horizons", "dip", "fold"):
        if parsed.get(key) is not None:
            facts[(key, parsed[key])] += 1
    for f in parsed.get("faults", ()):
        facts[("fault", f["kind"], f["dip"])] += 1
        if f.get("column"):
            facts[("fault column", f["kind"], f["dip"], f["column"])] += 1
    for b in parsed.get("bodies", ()):
        facts[("body", b["kind"])] += 1
        if b.get("region"):
            facts[("body region", b["kind"], b["region"])] += 1
    return facts


def annotation_structures(section: Section) -> dict[str, Any]:
    """What a perfect description states about ``section``, in :func:`parse_description`'s shape."""
    return {
        "horizons": len(section.horizons), "dip": section.dip, "fold": section.fold,
        "faults": [{"kind": f.kind, "dip": f.dip, "column": fault_column(f)} for f in section.faults_left_to_right()],
        "bodies": [{"kind": b.kind, "region": body_region(b)} for b in section.bodies],
    }


def annotation_facts(section: Section) -> Counter:
    return description_facts(annotation_structures(section))


# ---------------------------------------------------------------------------------------------
# Coordinate questions

def point_answer(x: float, y: float) -> str:
    """The JSON answer, e.g. '{"x": 0.42, "y": 0.17}' (the scene world's coordinate schema)."""
    return json.dumps({"x": round(min(max(x, 0.0), 1.0), 2), "y": round(min(max(y, 0.0), 1.0), 2)})


def _fault_name(section: Section, fault: Fault) -> str:
    faults = section.faults_left_to_right()
    if len(faults) == 1:
        return f"the {fault.kind} fault"
    return f"the {'left' if fault is faults[0] else 'right'} fault"


def coordinate_questions(section: Section) -> list[Question]:
    """Every coordinate question the section supports: each fault's upper and lower end, each body's
    centre, and the left end of the shallowest horizon (so a section without faults still has one)."""
    questions = []
    for fault in section.faults_left_to_right():
        name = _fault_name(section, fault)
        questions.append(Question(COORDINATE_PROMPT.format(point="upper end", name=name),
                                  point_answer(*fault.upper_end), "fault_upper_end"))
        questions.append(Question(COORDINATE_PROMPT.format(point="lower end", name=name),
                                  point_answer(*fault.lower_end), "fault_lower_end"))
    for body in section.bodies:
        questions.append(Question(COORDINATE_PROMPT.format(point="centre", name=f"the {body.kind}"),
                                  point_answer(*body.centre), "body_centre"))
    inside = [h for h in section.horizons if 0.02 <= h.y_at(0.0) <= 0.98] or list(section.horizons)
    top = min(inside, key=lambda h: h.y_at(0.0))
    questions.append(Question(COORDINATE_PROMPT.format(point="left end", name="the shallowest horizon "
                                                       "that reaches the left edge"),
                              point_answer(0.0, top.y_at(0.0)), "horizon_left_end"))
    return questions


def coordinate_question(section: Section, rng_or_seed: random.Random | int) -> Question:
    """One coordinate question: a fault end when the section has a fault (the paper's 'upper end of
    the fault'), else a body's centre, else the shallowest horizon's left end."""
    rng = as_rng(rng_or_seed)
    questions = coordinate_questions(section)
    faults = [q for q in questions if q.qtype.startswith("fault")]
    return rng.choice(faults or questions[:-1] or questions)


__all__ = [
    "BODY_KINDS", "COORDINATE_PROMPT", "COORDINATE_TYPES", "DESCRIBE_PROMPT", "DESCRIPTION_TYPE", "Question",
    "annotation_facts", "annotation_structures", "body_region", "coordinate_question", "coordinate_questions",
    "describe", "description_facts", "fault_column", "parse_description", "point_answer",
]
