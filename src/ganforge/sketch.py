"""Sketches drawn as the model learnt them: the line width and polarity of an image-to-image model's training inputs,
and the normalisation of a user's line drawing to them before it is translated.

A pix2pix model trained on `ganforge pairs --task edges` has only seen lines as thick as the edge maker draws them
(XDoG strokes of 2-3 px at 64 px); a drawing made of 1-px lines is outside what it learnt and comes out as a flat
wash. So when a paired dataset is built, its inputs are measured (`measure_lines`): whether they are line drawings
at all (nearly every pixel at the background or ink level, a small share of ink), the polarity (dark lines on light,
or light on dark) and the mean stroke width, ink area over skeleton length. Those figures travel with the model, in
`DatasetInfo.input_lines` (checkpoint and export), because they are what the model saw: a task name would not tell
XDoG from Canny's 1-px edges, nor the resolution the pairs were resized to. `normalize_sketch` then flips a drawing's
polarity to the training one and thickens its lines to the training width (every pixel within the missing
half-width of the ink becomes ink: a round pen); lines already as thick or thicker are left alone, and an input
that is not a line drawing (a photo) is untouched.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

EXTREME = 48  # a pixel within this many levels of 0 or 255 is at the background or ink level
MIN_EXTREME_SHARE = 0.85  # line drawings: at least this share of pixels at either level
INK_SHARE_RANGE = (0.001, 0.35)  # line drawings: ink covers this share of the image
MAX_GROWTH_PX = 8.0  # lines grow by at most this many pixels on each side


@dataclass(frozen=True)
class LineStats:
    """What a model's line-drawing inputs look like, measured at the model's resolution."""

    width_px: float  # mean stroke width: ink area / skeleton length
    dark_lines: bool  # dark lines on a light background (else light lines on dark)
    ink_share: float  # share of pixels that are ink

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(raw: dict) -> LineStats:
        return LineStats(float(raw["width_px"]), bool(raw["dark_lines"]), float(raw["ink_share"]))


def _gray(image: np.ndarray) -> np.ndarray:
    """One uint8 image [H, W] or [H, W, C] -> float grey levels [H, W] (the mean of the channels)."""
    return image.astype(np.float64) if image.ndim == 2 else image.astype(np.float64).mean(axis=2)


def _ink(gray: np.ndarray, dark_lines: bool) -> np.ndarray:
    """Boolean [..., H, W]: the pixels past the middle level on the ink side."""
    return gray < 128 if dark_lines else gray >= 128


def measure_lines(gray: np.ndarray) -> LineStats | None:
    """Grey levels [N, H, W] (or one image [H, W]) in 0..255 -> their line statistics, or None when they are not
    line drawings (too few pixels at the background or ink level, or too much or too little ink)."""
    gray = gray[None] if gray.ndim == 2 else gray  # [N, H, W]
    extreme = ((gray <= EXTREME) | (gray >= 255 - EXTREME)).mean()
    dark_lines = bool(np.median(gray) >= 128)
    ink = _ink(gray, dark_lines)
    ink_share = float(ink.mean())
    if extreme < MIN_EXTREME_SHARE or not INK_SHARE_RANGE[0] <= ink_share <= INK_SHARE_RANGE[1]:
        return None
    from skimage.morphology import skeletonize  # imported on use: data/base.py imports this module

    length = sum(int(skeletonize(mask).sum()) for mask in ink)
    return LineStats(float(ink.sum() / max(length, 1)), dark_lines, ink_share)


def normalize_sketch(image: np.ndarray, target: LineStats, scale: float = 1.0) -> np.ndarray:
    """A line drawing uint8 [H, W] or [H, W, C] with the polarity of `target` and lines at least `target.width_px`
    wide (new ink pixels take the ink level: 0 for dark lines, 255 for light ones); other inputs are returned as
    they are (the same object). `scale`: the drawing's pixels per model pixel, when it will be resized to the
    model's size afterwards (1: it is translated at its own size, as `translate` tiles it)."""
    found = measure_lines(_gray(image))
    if found is None:
        return image
    if found.dark_lines != target.dark_lines:
        image = 255 - image
    radius = min(MAX_GROWTH_PX, (target.width_px * scale - found.width_px) / 2)  # to add on each side of a line
    if radius < 0.5:
        return image
    from scipy import ndimage

    ink = _ink(_gray(image), target.dark_lines)
    grown = ndimage.distance_transform_edt(~ink) <= radius + 0.5  # a round pen, alike in every direction
    added = grown & ~ink
    result = image.copy()
    result[added] = 0 if target.dark_lines else 255
    return result
