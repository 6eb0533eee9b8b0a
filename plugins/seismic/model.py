"""Synthetic seismic sections: the annotation dataclasses and the seeded generator.

A section is a vertical slice of layered rock, as an interpreter sees it: ``x`` runs left to right and
``y`` is depth, both normalised to [0, 1] with the origin at the top left (the image convention of the
scene world). It holds 2-5 strong reflectors (horizons) that share one structural dip and fold, 0-2
faults (normal or reverse, each dipping left or right, with a vertical offset of the hanging wall), and
sometimes a body: a salt dome rising from the bottom, or a channel cut into a shallow layer. Pure
Python; the image is drawn by :mod:`.render`, the texts by :mod:`.language`.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

GENERATOR_VERSION = "1"  # bump when sections, images, texts or questions generated from a seed change
DEFAULT_IMAGE_SIZE = 64  # what the CLIP organism takes
FAULT_TYPES: tuple[str, ...] = ("normal", "reverse")
DIRECTIONS: tuple[str, ...] = ("left", "right")
BODY_KINDS: tuple[str, ...] = ("salt body", "channel")
FOLDS: tuple[str, ...] = ("anticline", "syncline")
MAX_HORIZONS = 5
MAX_FAULTS = 2
DIP_THRESHOLD = 0.065  # |dip| (depth change across the section) below this reads as "nearly flat"
FOLD_THRESHOLD = 0.08  # |curvature| (mid-section bulge) from which the horizons read as a fold


@dataclass(frozen=True)
class Horizon:
    """A strong reflector: depth ``y(x) = depth + dip * (x - 0.5) + curvature * (x - 0.5) ** 2 * 4``
    before faulting (``curvature`` is how much deeper the ends lie than the middle: positive arches
    it into an anticline, negative sags it into a syncline). ``amplitude`` is its reflection strength, its sign the polarity."""

    depth: float
    dip: float
    curvature: float
    amplitude: float

    def y_at(self, x: float) -> float:
        """Unfaulted depth at ``x``."""
        return self.depth + self.dip * (x - 0.5) + self.curvature * 4 * (x - 0.5) ** 2


@dataclass(frozen=True)
class Fault:
    """A straight fault from its upper end (x0, y0) to its lower end (x1, y1). ``dip`` is the side the
    plane leans towards with depth (``right`` when x1 > x0); the hanging wall is that side, moved down
    by ``throw`` along a normal fault and up along a reverse one (tapering to zero at both ends)."""

    kind: str
    dip: str
    x0: float
    y0: float
    x1: float
    y1: float
    throw: float

    @property
    def upper_end(self) -> tuple[float, float]:
        return (self.x0, self.y0)

    @property
    def lower_end(self) -> tuple[float, float]:
        return (self.x1, self.y1)

    @property
    def midpoint(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)


@dataclass(frozen=True)
class Body:
    """A salt body (a dome of chaotic, weak reflections) or a channel (a lens of bright fill):
    centre (x, y) and half extents, normalised."""

    kind: str
    x: float
    y: float
    half_width: float
    half_height: float

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x, self.y)


@dataclass(frozen=True)
class Section:
    """The full annotation of one seismic image; ``noise`` is the band-limited noise level and
    ``noise_seed`` seeds it, so the image is a function of the annotation alone."""

    horizons: tuple[Horizon, ...]
    faults: tuple[Fault, ...] = ()
    bodies: tuple[Body, ...] = ()
    noise: float = 0.1
    noise_seed: int = 0
    image_size: int = DEFAULT_IMAGE_SIZE
    seed: int | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def dip(self) -> str:
        """The structural dip the horizons share: 'left' (deeper to the left), 'right' or 'flat'."""
        mean = sum(h.dip for h in self.horizons) / len(self.horizons)
        return "flat" if abs(mean) < DIP_THRESHOLD else ("right" if mean > 0 else "left")

    @property
    def fold(self) -> str | None:
        """'anticline', 'syncline' or None when the horizons are nearly straight."""
        mean = sum(h.curvature for h in self.horizons) / len(self.horizons)
        return None if abs(mean) < FOLD_THRESHOLD else ("anticline" if mean > 0 else "syncline")

    def faults_left_to_right(self) -> tuple[Fault, ...]:
        return tuple(sorted(self.faults, key=lambda f: f.midpoint[0]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "horizons": [asdict(h) for h in self.horizons],
            "faults": [asdict(f) for f in self.faults],
            "bodies": [asdict(b) for b in self.bodies],
            "noise": self.noise, "noise_seed": self.noise_seed, "image_size": self.image_size, "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Section:
        """Inverse of :meth:`to_dict`; ``faults``, ``bodies`` and the rendering fields may be absent
        (real interpreted data has no noise seed)."""
        return cls(
            horizons=tuple(Horizon(**h) for h in data["horizons"]),
            faults=tuple(Fault(**f) for f in data.get("faults") or ()),
            bodies=tuple(Body(**b) for b in data.get("bodies") or ()),
            noise=float(data.get("noise", 0.0)),
            noise_seed=int(data.get("noise_seed", 0)),
            image_size=int(data.get("image_size", DEFAULT_IMAGE_SIZE)),
            seed=data.get("seed"),
        )


def as_rng(rng_or_seed: random.Random | int) -> random.Random:
    return rng_or_seed if isinstance(rng_or_seed, random.Random) else random.Random(rng_or_seed)


def _r(v: float) -> float:
    return round(v, 4)


def _horizons(rng: random.Random) -> tuple[Horizon, ...]:
    n = rng.randint(2, MAX_HORIZONS)
    dip = rng.choice((rng.uniform(-0.25, -0.1), rng.uniform(-0.03, 0.03), rng.uniform(0.1, 0.25)))
    curvature = rng.choice((rng.uniform(-0.2, -0.12), rng.uniform(-0.03, 0.03), rng.uniform(0.12, 0.2)))
    gap = 0.7 / n
    horizons = []
    for i in range(n):
        depth = 0.15 + gap * (i + 0.5) + rng.uniform(-0.2, 0.2) * gap
        amplitude = rng.uniform(0.7, 1.0) * rng.choice((1, -1))
        horizons.append(Horizon(_r(depth), _r(dip + rng.uniform(-0.02, 0.02)),
                                _r(curvature + rng.uniform(-0.02, 0.02)), _r(amplitude)))
    return tuple(horizons)


def _fault(rng: random.Random, x_range: tuple[float, float]) -> Fault:
    kind, dip = rng.choice(FAULT_TYPES), rng.choice(DIRECTIONS)
    xm = rng.uniform(*x_range)
    lean = rng.uniform(0.08, 0.22) * (1 if dip == "right" else -1)
    y0, y1 = rng.uniform(0.04, 0.3), rng.uniform(0.7, 0.96)
    return Fault(kind, dip, _r(xm - lean / 2), _r(y0), _r(xm + lean / 2), _r(y1), _r(rng.uniform(0.05, 0.12)))


def _body(rng: random.Random) -> Body:
    if rng.random() < 0.5:
        w, h = rng.uniform(0.12, 0.22), rng.uniform(0.18, 0.3)
        return Body("salt body", _r(rng.uniform(0.25, 0.75)), _r(1.0 - h * 0.6), _r(w), _r(h))
    w, h = rng.uniform(0.08, 0.16), rng.uniform(0.03, 0.06)
    return Body("channel", _r(rng.uniform(0.2, 0.8)), _r(rng.uniform(0.15, 0.45)), _r(w), _r(h))


def generate_section(rng_or_seed: random.Random | int, image_size: int = DEFAULT_IMAGE_SIZE,
                     body_probability: float = 0.35) -> Section:
    """A random section; the same seed (or rng state) gives the same section.

    Two faults sit in different halves (so 'the left fault' and 'the right fault' name one each).
    """
    seed = rng_or_seed if isinstance(rng_or_seed, int) else None
    rng = as_rng(rng_or_seed)
    horizons = _horizons(rng)
    n_faults = rng.choices((0, 1, 2), weights=(0.2, 0.5, 0.3))[0]
    ranges = [(0.25, 0.75)] if n_faults == 1 else [(0.18, 0.4), (0.6, 0.82)][:n_faults]
    faults = tuple(_fault(rng, r) for r in ranges)
    bodies = (_body(rng),) if rng.random() < body_probability else ()
    return Section(horizons=horizons, faults=faults, bodies=bodies, noise=_r(rng.uniform(0.05, 0.2)),
                   noise_seed=rng.getrandbits(31), image_size=image_size, seed=seed)
