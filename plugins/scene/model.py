"""Scenes of the synthetic world: objects, the seeded generator and the renderer.

A scene holds 1-6 objects (shape, colour, size, position); no two objects share both colour and
shape, so "the red circle" always names one object. Everything here is pure Python + PIL (imported
lazily by :func:`render`), so the language organisms can use the text functions without images.
Texts and questions live in :mod:`.language`; :mod:`.world` is the public face of both.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # PIL is only needed to render
    from PIL.Image import Image

GENERATOR_VERSION = "4"  # bump when scenes, texts or questions generated from a seed change

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 205, 30),
    "purple": (150, 60, 190),
    "orange": (245, 135, 20),
}
SIZES: dict[str, float] = {"small": 0.09, "large": 0.16}  # half-extent, as a fraction of the image side
BACKGROUNDS: tuple[tuple[int, int, int], ...] = ((245, 245, 245), (230, 230, 225), (215, 225, 235))
DEFAULT_IMAGE_SIZE = 64
MAX_OBJECTS = 6
_SUPERSAMPLE = 4  # draw large, then downsample: smooth edges even at 64x64


@dataclass(frozen=True)
class SceneObject:
    """One object; ``x``, ``y`` are its centre, normalised to [0, 1] (y grows downwards)."""

    shape: str
    colour: str
    size: str
    x: float
    y: float
    overlaps: bool = False  # its bounding box intersects another object's

    @property
    def half(self) -> float:
        return SIZES[self.size]

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1), normalised."""
        h = self.half
        return (self.x - h, self.y - h, self.x + h, self.y + h)

    @property
    def name(self) -> str:
        """'red circle': unique within a scene."""
        return f"{self.colour} {self.shape}"

    @property
    def region(self) -> str:
        """A coarse position word: 'top left', 'centre', 'bottom', ..."""
        return region_of(self.x, self.y)


@dataclass(frozen=True)
class Scene:
    """A full annotation of one image: its objects (in drawing order), background and size."""

    objects: tuple[SceneObject, ...]
    image_size: int = DEFAULT_IMAGE_SIZE
    background: tuple[int, int, int] = BACKGROUNDS[0]
    seed: int | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def find(self, colour: str, shape: str) -> SceneObject | None:
        return next((o for o in self.objects if o.colour == colour and o.shape == shape), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects": [asdict(o) for o in self.objects],
            "image_size": self.image_size,
            "background": list(self.background),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        return cls(
            objects=tuple(SceneObject(**o) for o in data["objects"]),
            image_size=int(data["image_size"]),
            background=tuple(data["background"]),  # type: ignore[arg-type]
            seed=data.get("seed"),
        )


def region_of(x: float, y: float) -> str:
    """Thirds of the image: 'top left' ... 'bottom right', with 'centre' in the middle."""
    col = "left" if x < 1 / 3 else "right" if x > 2 / 3 else ""
    row = "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else ""
    return " ".join(w for w in (row, col) if w) or "centre"


def as_rng(rng_or_seed: random.Random | int) -> random.Random:
    return rng_or_seed if isinstance(rng_or_seed, random.Random) else random.Random(rng_or_seed)


def _boxes_intersect(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def generate_scene(
    rng_or_seed: random.Random | int,
    n_objects: tuple[int, int] = (1, MAX_OBJECTS),
    image_size: int = DEFAULT_IMAGE_SIZE,
    overlap_probability: float = 0.15,
) -> Scene:
    """A random scene; the same seed (or rng state) gives the same scene.

    Objects are placed without overlap, except that each may be placed anywhere with
    ``overlap_probability`` (the 'optional overlap' of the annotation).
    """
    lo, hi = n_objects
    if not 1 <= lo <= hi <= MAX_OBJECTS:
        raise ValueError(f"n_objects must satisfy 1 <= min <= max <= {MAX_OBJECTS}, got {n_objects}")
    seed = rng_or_seed if isinstance(rng_or_seed, int) else None
    rng = as_rng(rng_or_seed)
    n = rng.randint(lo, hi)
    kinds = rng.sample([(c, s) for c in COLOURS for s in SHAPES], n)
    placed: list[tuple[str, str, str, float, float]] = []
    for colour, shape in kinds:
        size = rng.choice(tuple(SIZES))
        half = SIZES[size]
        allow_overlap = rng.random() < overlap_probability
        for _ in range(60):
            x, y = rng.uniform(half, 1 - half), rng.uniform(half, 1 - half)
            box = (x - half, y - half, x + half, y + half)
            if allow_overlap or not any(
                _boxes_intersect(box, (px - SIZES[ps], py - SIZES[ps], px + SIZES[ps], py + SIZES[ps]))
                for _, _, ps, px, py in placed
            ):
                break
        placed.append((shape, colour, size, round(x, 4), round(y, 4)))
    objects = [SceneObject(shape=s, colour=c, size=z, x=x, y=y) for s, c, z, x, y in placed]
    flagged = tuple(
        SceneObject(**{**asdict(o), "overlaps": any(
            _boxes_intersect(o.bbox, p.bbox) for p in objects if p is not o)})
        for o in objects
    )
    return Scene(objects=flagged, image_size=image_size, background=rng.choice(BACKGROUNDS), seed=seed)


def _polygon(shape: str, cx: float, cy: float, h: float) -> list[tuple[float, float]] | None:
    if shape == "square":
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":
        return [(cx, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "diamond":
        return [(cx, cy - h), (cx + h, cy), (cx, cy + h), (cx - h, cy)]
    return None


def render(scene: Scene) -> Image:
    """The scene as an RGB PIL image of ``scene.image_size`` pixels square."""
    from PIL import Image, ImageDraw

    side = scene.image_size * _SUPERSAMPLE
    canvas = Image.new("RGB", (side, side), tuple(scene.background))
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        cx, cy, h = obj.x * side, obj.y * side, obj.half * side
        fill = COLOURS[obj.colour]
        points = _polygon(obj.shape, cx, cy, h)
        if points is None:
            draw.ellipse((cx - h, cy - h, cx + h, cy + h), fill=fill)
        else:
            draw.polygon(points, fill=fill)
    return canvas.reduce(_SUPERSAMPLE)  # box filter: cheap, and smooth enough for flat shapes
