"""Built-in offline datasets: scikit-learn's handwritten digits, stacked digits (1000 modes), procedural shapes,
scikit-image's LFW subset (real face photos and non-face patches)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from .base import DatasetInfo, ImageDataset, TensorImageDataset

DEFAULT_RESOLUTION = 32
DIGIT_NAMES = tuple(str(d) for d in range(10))
SHAPE_NAMES = ("circle", "square", "triangle", "star", "ring")
LFW_NAMES = ("face", "non-face")


def digit_images(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 8x8 digits, upscaled: (uint8 [N, resolution, resolution], labels [N])."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = (digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)  # [N, 8, 8]
    # Pad to 10x10 so strokes do not touch the border after upscaling, as in MNIST.
    padded = np.pad(small, ((0, 0), (1, 1), (1, 1)))
    images = np.stack(
        [np.asarray(Image.fromarray(d).resize((resolution, resolution), Image.Resampling.BICUBIC)) for d in padded]
    )
    return images, digits.target.astype(np.int64)


def digits(resolution: int | None, name: str = "digits") -> TensorImageDataset:
    resolution = resolution or DEFAULT_RESOLUTION
    images, labels = digit_images(resolution)
    return TensorImageDataset(
        torch.from_numpy(images)[:, None], torch.from_numpy(labels), DatasetInfo(name, resolution, 1, DIGIT_NAMES)
    )


class StackedDigits(ImageDataset):
    """Three random digits as the R, G, B channels: 1000 modes (class = 100*R + 10*G + B), as Stacked MNIST."""

    def __init__(self, resolution: int | None, size: int = 60000, seed: int = 0, name: str = "stacked-digits"):
        resolution = resolution or DEFAULT_RESOLUTION
        images, labels = digit_images(resolution)
        self.digits = torch.from_numpy(images)  # [M, H, W]
        self.digit_labels = torch.from_numpy(labels)
        rng = np.random.default_rng(seed)
        self.picks = torch.from_numpy(rng.integers(0, len(images), size=(size, 3)))  # [N, 3] digit indices
        self.info = DatasetInfo(name, resolution, 3, tuple(f"{m:03d}" for m in range(1000)))

    def __len__(self) -> int:
        return len(self.picks)

    def image(self, index: int) -> tuple[torch.Tensor, int]:
        picks = self.picks[index]
        r, g, b = (int(self.digit_labels[p]) for p in picks)
        return self.digits[picks], 100 * r + 10 * g + b

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        picks = self.picks[indices]  # [B, 3]
        digit = self.digit_labels[picks]
        return self.digits[picks], digit[:, 0] * 100 + digit[:, 1] * 10 + digit[:, 2]


def _shape_polygon(kind: str, cx: float, cy: float, radius: float, angle: float) -> list[tuple[float, float]]:
    if kind == "square":
        corners, radii = 4, [radius]
    elif kind == "triangle":
        corners, radii = 3, [radius]
    else:  # star
        corners, radii = 10, [radius, radius * 0.45]
    return [
        (
            cx + radii[i % len(radii)] * np.cos(angle + 2 * np.pi * i / corners),
            cy + radii[i % len(radii)] * np.sin(angle + 2 * np.pi * i / corners),
        )
        for i in range(corners)
    ]


def render_shape(rng: np.random.Generator, resolution: int, kind: int) -> np.ndarray:
    """One anti-aliased coloured shape on a plain background: uint8 [resolution, resolution, 3]."""
    scale = 4  # draw large, then downsample for smooth edges
    size = resolution * scale
    background = tuple(int(v) for v in rng.integers(0, 90, 3))
    colour = tuple(int(v) for v in rng.integers(110, 256, 3))
    picture = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(picture)
    radius = rng.uniform(0.22, 0.4) * size
    cx, cy = rng.uniform(radius, size - radius, 2)
    name = SHAPE_NAMES[kind]
    if name == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    elif name == "ring":
        width = max(2, int(radius * 0.35))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=colour, width=width)
    else:
        draw.polygon(_shape_polygon(name, cx, cy, radius, rng.uniform(0, 2 * np.pi)), fill=colour)
    return np.asarray(picture.resize((resolution, resolution), Image.Resampling.LANCZOS), dtype=np.uint8)


def shapes(resolution: int | None, size: int = 10000, seed: int = 0, name: str = "shapes") -> TensorImageDataset:
    """Procedural coloured shapes (circle, square, triangle, star, ring) with their kind as the label."""
    resolution = resolution or DEFAULT_RESOLUTION
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(SHAPE_NAMES), size)
    images = np.stack([render_shape(rng, resolution, int(k)) for k in labels])
    return TensorImageDataset(
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(labels),
        DatasetInfo(name, resolution, 3, SHAPE_NAMES),
    )


def lfw(resolution: int | None, name: str = "lfw") -> TensorImageDataset:
    """scikit-image's subset of Labeled Faces in the Wild (shipped with it, no download): 100 grey 25x25 face crops
    and 100 non-face patches of the same photos, labelled face / non-face, resized bicubically to `resolution`.
    Real photographs in two classes, small enough for CPU experiments (`--data lfw --cond`, `experiment augment`)."""
    from skimage.data import lfw_subset

    resolution = resolution or DEFAULT_RESOLUTION
    photos = (lfw_subset() * 255).round().astype(np.uint8)  # [200, 25, 25]: faces first, then non-faces
    images = np.stack(
        [np.asarray(Image.fromarray(p).resize((resolution, resolution), Image.Resampling.BICUBIC)) for p in photos]
    )
    labels = np.repeat(np.arange(2), 100)
    return TensorImageDataset(
        torch.from_numpy(images)[:, None], torch.from_numpy(labels), DatasetInfo(name, resolution, 1, LFW_NAMES)
    )
