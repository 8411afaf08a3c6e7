"""Small image utilities on torch/numpy/Pillow (no torchvision): value mapping, grids, image and GIF writing."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .atomic import atomic_open
from .errors import ConfigError

# still-image file name endings -> Pillow format and save options
STILL_FORMATS = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
    ".webp": ("WEBP", {"lossless": True}),
    ".gif": ("GIF", {}),
}


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] floats in [-1, 1] -> uint8 [N, C, H, W] in [0, 255]."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, C, H, W] -> floats in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def make_grid(images: torch.Tensor, columns: int | None = None, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """uint8 [N, C, H, W] -> one uint8 [rows*H', cols*W', C] array with `padding` pixels between tiles."""
    assert images.ndim == 4 and images.dtype == torch.uint8, "expected uint8 [N, C, H, W]"
    count, channels, height, width = images.shape
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    grid = np.full(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels),
        pad_value,
        dtype=np.uint8,
    )
    tiles = images.permute(0, 2, 3, 1).cpu().numpy()
    for index in range(count):
        row, col = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + col * (width + padding)
        grid[top : top + height, left : left + width] = tiles[index]
    return grid


VIEWABLE_SIDE = 128  # px: tiles of edit strips and projection previews are enlarged to at least this side
LABEL_BAND = 18  # px of white under a labelled row for the labels


def enlarge(images: torch.Tensor, side: int = VIEWABLE_SIDE) -> torch.Tensor:
    """uint8 [N, C, H, W] scaled up by the smallest whole factor that makes them at least `side` px (nearest
    neighbour, so each model pixel stays a sharp block: a 32-px model's images become 128 px); larger images are
    returned as they are."""
    factor = math.ceil(side / min(images.shape[-2:]))
    return images.repeat_interleave(factor, -2).repeat_interleave(factor, -1) if factor > 1 else images


def labelled_row(images: torch.Tensor, labels: list[str], side: int = VIEWABLE_SIDE) -> np.ndarray:
    """uint8 [N, C, H, W] tiles enlarged to a viewable size (`enlarge`) in one row, each with its label (e.g. an
    edit's strength, "target") written in black under it -> uint8 [H', W', C]."""
    from PIL import ImageDraw, ImageFont

    assert len(labels) == len(images), "one label per image"
    tiles = enlarge(images, side)
    grid = make_grid(tiles, columns=len(tiles))
    canvas = np.full((grid.shape[0] + LABEL_BAND, grid.shape[1], grid.shape[2]), 255, dtype=np.uint8)
    canvas[: grid.shape[0]] = grid
    picture = to_pil(canvas)
    draw, width = ImageDraw.Draw(picture), tiles.shape[-1]
    font = ImageFont.load_default()
    for index, label in enumerate(labels):
        centre = 2 + index * (width + 2) + width / 2  # make_grid's 2-px padding
        draw.text((centre, grid.shape[0] + LABEL_BAND / 2 - 1), label, fill=0, font=font, anchor="mm")
    array = np.asarray(picture)
    return array[:, :, None] if array.ndim == 2 else array


def to_pil(array: np.ndarray) -> Image.Image:
    """uint8 [H, W, C] (C = 1 or 3) -> PIL image."""
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


def encode_png(array: np.ndarray, compress_level: int = 6) -> bytes:
    """uint8 [H, W, C] -> the bytes of a PNG file (compress_level: zlib's 0 fastest .. 9 smallest; 6 Pillow's default)."""
    buffer = io.BytesIO()
    to_pil(array).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 [H, W, C] array as PNG, atomically."""
    return _write(array, path, "PNG", {})


def still_format(path: str | Path, flag: str = "") -> tuple[str, dict]:
    """(Pillow format, save options) that the file name's ending asks for; anything else is a ConfigError that
    names `flag`."""
    suffix = Path(path).suffix.lower()
    if suffix not in STILL_FORMATS:
        raise ConfigError(
            f"{flag + ' ' if flag else ''}{path}: end the name in {', '.join(STILL_FORMATS)} "
            f"(the image format is taken from it)"
        )
    return STILL_FORMATS[suffix]


def save_image(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 [H, W, C] array in the format its name ends in (png, jpg/jpeg, lossless webp, gif), atomically."""
    image_format, options = still_format(path)
    return _write(array, path, image_format, options)


def _write(array: np.ndarray, path: str | Path, image_format: str, options: dict) -> Path:
    path = Path(path)
    with atomic_open(path) as handle:
        to_pil(array).save(handle, format=image_format, **options)
    return path


def save_gif(frames: list[np.ndarray], path: str | Path, fps: float) -> Path:
    """Write uint8 [H, W, C] frames as an endlessly looping GIF, atomically.

    Each frame gets its own adaptive 256-colour palette; Pillow stores a run of identical frames once, with their
    durations added up. GIF delays are whole hundredths of a second, and browsers slow delays under 20 ms down.
    """
    assert frames, "no frames"
    first, *rest = [to_pil(frame) for frame in frames]
    path = Path(path)
    with atomic_open(path) as handle:
        first.save(handle, format="GIF", save_all=True, append_images=rest, duration=round(1000 / fps), loop=0)
    return path
