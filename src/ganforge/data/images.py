"""Robust image decoding: any common file mode to uint8 RGB or grayscale, resized and centre-cropped."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


class ImageDecodeError(ValueError):
    """A file could not be turned into an image; `reason` is a short category for reports."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason  # corrupt | not an image | too small | unreadable
        self.detail = detail  # the file and what is wrong with it


MIN_SIDE = 4  # pixels: no image with a shorter side is used, whatever the resolution


def min_side(resolution: int | None) -> int:
    """The shortest image side accepted for training at `resolution` (default of `prepare --min-size`; None: each
    image keeps its size, as `pairs` without --resolution): smaller images (1x1 icons, 3000x4 strips) would be
    blown up into blur."""
    return max(MIN_SIDE, resolution // 4) if resolution else MIN_SIDE


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def open_image(data: bytes | Path, name: str = "") -> Image.Image:
    """Decode fully (so truncated files fail here, not later), applying the EXIF orientation."""
    try:
        image = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
        image.load()
    except UnidentifiedImageError:
        raise ImageDecodeError("not an image", f"{name or data} is not a readable image format") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageDecodeError("corrupt", f"{name or data}: {error}") from None
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not cost the whole image
        return image


def is_grayscale(image: Image.Image) -> bool:
    return image.mode in GRAY_MODES or (image.mode == "P" and _palette_is_gray(image))


def _palette_is_gray(image: Image.Image) -> bool:
    palette = np.asarray(image.getpalette() or [], dtype=np.int32).reshape(-1, 3)
    return len(palette) > 0 and bool(np.all(palette[:, 0] == palette[:, 1]) and np.all(palette[:, 1] == palette[:, 2]))


def to_array(image: Image.Image, channels: int) -> np.ndarray:
    """Any PIL mode -> uint8 array [H, W, channels]; alpha is composited onto white, 16-bit scaled to 8-bit."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
        gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        image = Image.fromarray(gray, mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("L" if channels == 1 else "RGB")
    array = np.asarray(image, dtype=np.uint8)
    return array[:, :, None] if array.ndim == 2 else array


def resize_center_crop(array: np.ndarray, resolution: int, crop: int | None = None) -> np.ndarray:
    """[H, W, C] uint8 -> [resolution, resolution, C]: optional centre crop to `crop`, shorter side scaled, centre cut."""
    height, width, channels = array.shape
    image = Image.fromarray(array[:, :, 0] if channels == 1 else array)
    if crop is not None:
        side = min(crop, height, width)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        width = height = side
    scale = resolution / min(width, height)
    new_size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
    if new_size != (width, height):
        image = image.resize(new_size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    left, top = (new_size[0] - resolution) // 2, (new_size[1] - resolution) // 2
    image = image.crop((left, top, left + resolution, top + resolution))
    out = np.array(image, dtype=np.uint8)  # a writable copy
    return out[:, :, None] if out.ndim == 2 else out


def load_image(
    data: bytes | Path, resolution: int, channels: int, name: str = "", min_size: int = 0, crop: int | None = None
) -> np.ndarray:
    """Decode, convert and resize one image to uint8 [resolution, resolution, channels]."""
    image = open_sized(data, name, min_size)
    return resize_center_crop(to_array(image, channels), resolution, crop)


def open_sized(data: bytes | Path, name: str = "", min_size: int = 0) -> Image.Image:
    """`open_image`, refusing ("too small") an image whose shorter side is under `min_size`."""
    image = open_image(data, name)
    if min(image.size) < min_size:
        raise ImageDecodeError(
            "too small", f"{name or data} is {image.size[0]}x{image.size[1]}, smaller than the minimum side {min_size}"
        )
    return image
