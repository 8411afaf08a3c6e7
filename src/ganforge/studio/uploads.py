"""Uploaded images, checked before they are decoded: a byte limit, an allowed list of formats, and a pixel limit
read from the header (so a decompression bomb is refused before it is expanded); corrupt files are clear 4xx errors."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..data.images import ImageDecodeError, open_image, to_array
from .errors import StudioError

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 8 * 2**20  # a file larger than this is refused unread (413)
    max_pixels: int = 16 * 2**20  # width * height from the header (413): about 4096 x 4096
    max_tiled_pixels: int = 4 * 2**20  # translate fit=false: the input padded to whole tiles (413); 2048 x 2048
    max_aspect: float = 16.0  # translate: longer side / shorter side (413)
    deadline_s: float = 60.0  # translate: longer work stops with a 504


def decode_upload(data: bytes, channels: int, limits: UploadLimits, what: str = "image") -> np.ndarray:
    """Uploaded bytes -> uint8 [H, W, channels]; StudioError 413 (too large), 415 (not an allowed image) or 400."""
    if len(data) > limits.max_bytes:
        raise StudioError(413, f"{what}: {len(data)} bytes is over the limit of {limits.max_bytes} bytes")
    if not data:
        raise StudioError(400, f"{what}: the upload is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            header = Image.open(io.BytesIO(data))  # reads the header only
            kind, (width, height) = header.format, header.size
    except Image.DecompressionBombError:  # PIL refuses the header of a giant image before our check sees it
        raise StudioError(413, f"{what}: over the limit of {limits.max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise StudioError(415, f"{what}: not a readable image; send PNG, JPEG, WebP, BMP or GIF") from None
    if kind not in ALLOWED_FORMATS:
        raise StudioError(415, f"{what}: {kind} images are not accepted; send PNG, JPEG, WebP, BMP or GIF")
    if width * height > limits.max_pixels:
        raise StudioError(413, f"{what}: {width}x{height} pixels is over the limit of {limits.max_pixels} pixels")
    try:
        return to_array(open_image(data, what), channels)
    except ImageDecodeError as error:
        raise StudioError(400, f"{what}: {error.detail}") from None
