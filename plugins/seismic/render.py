"""Draws a :class:`~.model.Section` as a grayscale amplitude image (returned as RGB PIL for processors).

Each horizon is a Ricker wavelet centred on its depth, so it shows as a bright band between two dark
side lobes (or the reverse for negative polarity), over weak conformable layering. Faults move the
hanging wall's reflectors vertically by their throw, tapering at the fault's ends; a salt body is a
dome of weak chaotic reflections with a strong top that drags the horizons up; a channel is a lens of
bright fill. Band-limited noise (white noise smoothed by a Gaussian) goes on last. Mid grey is zero
amplitude. Everything is a deterministic function of the annotation (``noise_seed`` included).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .model import Body, Fault, Section

if TYPE_CHECKING:
    from PIL.Image import Image

_SUPERSAMPLE = 2
_PEAK = 14.0  # Ricker peak frequency in cycles per section height: a 64-pixel image shows ~3 px bands
_TAPER = 0.3  # faults reach full throw this far (in depth) from their ends; > 2x the largest throw,
# so the hanging wall is stretched at most 1.7x near a tip
_WEAK_LAYERS = 8


def ricker(t: np.ndarray, peak: float = _PEAK) -> np.ndarray:
    a = (np.pi * peak * t) ** 2
    return (1 - 2 * a) * np.exp(-a)


def _fault_shift(fault: Fault, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How far down (positive) the rock at (x, y) has moved along ``fault``."""
    xf = fault.x0 + (fault.x1 - fault.x0) * (y - fault.y0) / (fault.y1 - fault.y0)
    hanging = (x > xf) if fault.dip == "right" else (x < xf)
    taper = np.clip(np.minimum(y - fault.y0, fault.y1 - y) / _TAPER, 0, 1)
    sign = 1.0 if fault.kind == "normal" else -1.0
    return np.where(hanging, sign * fault.throw * taper, 0.0)


def _ellipse(body: Body, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sqrt(((x - body.x) / body.half_width) ** 2 + ((y - body.y) / body.half_height) ** 2)


def amplitude(section: Section) -> np.ndarray:
    """The section's amplitude field, ``image_size`` square, float (about -1.5..1.5)."""
    n = section.image_size * _SUPERSAMPLE
    coords = (np.arange(n) + 0.5) / n
    x, y = np.meshgrid(coords, coords)
    rng = np.random.default_rng(section.noise_seed)
    source = y.copy()  # the depth each pixel's rock came from before deformation
    for fault in section.faults:
        source -= _fault_shift(fault, x, y)
    for body in section.bodies:
        if body.kind == "salt body":  # the dome lifts the layers around and above it
            lift = 0.5 * body.half_height * np.exp(-((x - body.x) / (1.6 * body.half_width)) ** 2)
            source += lift * np.clip(y / max(body.y, 1e-3), 0, 1)
    field = np.zeros_like(x)
    mean_dip = sum(h.dip for h in section.horizons) / len(section.horizons)
    mean_curv = sum(h.curvature for h in section.horizons) / len(section.horizons)
    for depth, amp in zip(rng.uniform(0.0, 1.0, _WEAK_LAYERS), rng.uniform(-0.25, 0.25, _WEAK_LAYERS)):
        field += amp * ricker(source - (depth + mean_dip * (x - 0.5) + mean_curv * 4 * (x - 0.5) ** 2))
    for h in section.horizons:
        field += h.amplitude * ricker(source - (h.depth + h.dip * (x - 0.5) + h.curvature * 4 * (x - 0.5) ** 2))
    for body in section.bodies:
        r = _ellipse(body, x, y)
        inside = r < 1
        if body.kind == "salt body":
            field = np.where(inside, 0.15 * rng.standard_normal(x.shape), field)
            field += 0.9 * ricker((r - 1) * body.half_height) * (y < body.y)  # the strong top of salt
        else:
            lens = inside & (y > body.y - 0.3 * body.half_height)
            field = np.where(lens, 0.8 * np.cos(2 * np.pi * (y - body.y) / 0.035), field)
    if section.noise > 0:
        from scipy.ndimage import gaussian_filter

        noise = gaussian_filter(rng.standard_normal(x.shape), sigma=(1.4, 0.8))
        field += section.noise * noise / (noise.std() or 1.0)
    return field.reshape(section.image_size, _SUPERSAMPLE, section.image_size, _SUPERSAMPLE).mean(axis=(1, 3))


def render(section: Section) -> Image:
    """The section as an RGB PIL image (three equal channels), ``image_size`` pixels square."""
    from PIL import Image

    grey = np.clip(128 + 90 * amplitude(section), 0, 255).astype(np.uint8)
    return Image.fromarray(grey, mode="L").convert("RGB")
