"""The pictures the studio's API answers with, computed from a `LoadedGenerator`: one seed's image (truncation,
class, noise), seed grids, style-mixing grids (Karras et al. 2019), interpolation frames (slerp in z, lerp in w) and
image-to-image translation (pix2pix, Isola et al. 2017) either of the whole image at the model's size or tiled."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from ..artifacts.generator import LoadedGenerator, SeededSampler
from ..imaging import encode_png, make_grid, to_pil, to_uint8
from ..latent import lerp, slerp, style_mixing_grid
from ..latent.interpolate import single_class
from ..sketch import normalize_sketch
from ..tiling import translate_array
from ..translation import translator
from .errors import StudioError


def png_bytes(array: np.ndarray) -> bytes:
    """uint8 [H, W, C] -> PNG file bytes, fast over small: they go to a browser."""
    return encode_png(array, compress_level=1)


def _hwc(images: torch.Tensor) -> np.ndarray:
    """float [1, C, H, W] in [-1, 1] -> uint8 [H, W, C]."""
    return to_uint8(images)[0].permute(1, 2, 0).numpy()


def require_noise_model(generator: LoadedGenerator) -> None:
    if generator.dataset.paired:
        raise StudioError(422, f"{generator.source} is an image-to-image model: use the Sketch page / translate")


def require_translator(generator: LoadedGenerator) -> None:
    if not generator.dataset.paired:
        raise StudioError(
            422, f"{generator.source} generates from noise; translate needs an image-to-image (pix2pix) model"
        )


def class_label(generator: LoadedGenerator, class_index: int | None) -> torch.Tensor | None:
    """[1] label for conditional generators (class 0 unless given); a class for an unconditional one is a 400."""
    if class_index is not None and not generator.num_classes:
        raise StudioError(400, "class: this generator is not class-conditional")
    if class_index is not None and not 0 <= class_index < generator.num_classes:
        raise StudioError(400, f"class {class_index}: must be in 0..{generator.num_classes - 1}")
    return single_class(generator, 1, class_index)


@torch.no_grad()
def generate_image(
    generator: LoadedGenerator, seed: int, truncation: float = 1.0, class_index: int | None = None, noise: str = "const"
) -> np.ndarray:
    """The image of one seed, uint8 [H, W, C]; noise 'random' draws StyleGAN2's per-pixel noise from the seed."""
    require_noise_model(generator)
    labels = class_label(generator, class_index)
    z = generator.latents([seed])  # [1, z_dim]
    if noise == "random" and generator.has_styles:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            ws = generator.module.map(
                z.to(generator.device), None if labels is None else labels.to(generator.device), psi=truncation
            )
            return _hwc(generator.module.synthesis(ws, noise_mode="random").float().cpu())
    return _hwc(generator.synthesize(z, labels, truncation=truncation))


@torch.no_grad()
def mixing_grid(
    generator: LoadedGenerator,
    rows: list[int],
    cols: list[int],
    truncation: float,
    class_index: int | None,
    crossover: int | None,
) -> np.ndarray:
    """A style-mixing grid as one uint8 [H', W', C] image."""
    require_noise_model(generator)
    class_label(generator, class_index)  # validates the class
    tiles = style_mixing_grid(
        generator, rows, cols, crossover=crossover, truncation=truncation, class_index=class_index
    )
    return make_grid(tiles, columns=len(cols) + 1)


@torch.no_grad()
def interpolation_frame(
    generator: LoadedGenerator, seed_a: int, seed_b: int, t: float, truncation: float, class_index: int | None
) -> np.ndarray:
    """The image a fraction t of the way from seed_a's image to seed_b's: lerp in w, or slerp in z."""
    require_noise_model(generator)
    labels = class_label(generator, class_index)
    z = generator.latents([seed_a, seed_b])  # [2, z_dim]
    position = torch.tensor([t])
    if generator.has_styles:
        ws = generator.styles(z, None if labels is None else labels.repeat(2), truncation)  # [2, num_ws, w_dim]
        return _hwc(generator.synthesize_styles(lerp(ws[:1], ws[1:], position)))
    return _hwc(generator.synthesize(slerp(z[:1], z[1:], position), labels, truncation=truncation))


def require_tileable(height: int, width: int, tile: int, fit: bool, max_tiled_pixels: int, max_aspect: float) -> None:
    """Refuse (413) a translation whose work is too large: an aspect ratio over `max_aspect`, or (tiled) an input
    whose size padded up to the tile is over `max_tiled_pixels`: a 1 x 16M strip is 4G pixels once padded."""
    if max(height, width) > max_aspect * min(height, width):
        raise StudioError(413, f"image: {width}x{height} is more elongated than {max_aspect:g}:1; crop it")
    padded = max(height, tile) * max(width, tile)
    if not fit and padded > max_tiled_pixels:
        raise StudioError(
            413,
            f"image: {width}x{height} (padded to the model's {tile} px tiles: {padded} pixels) is "
            f"over the tiling limit of {max_tiled_pixels} pixels; send it smaller or with fit=true",
        )


def translate_image(
    generator: SeededSampler, image: np.ndarray, fit: bool, check: Callable[[], None] | None = None
) -> np.ndarray:
    """uint8 [H, W, C] through a pix2pix generator (PyTorch or onnxruntime): `fit` scales the whole image to the
    model's size (a sketch) and the result back up to the input's size, the drawing's lines first redrawn to the
    training lines' width and polarity when the model learnt from line drawings (sketch.normalize_sketch, as
    `ganforge translate` does); otherwise it is tiled at full resolution. `check()` is called before each batch of
    tiles (it raises to stop the work: deadline, client gone)."""
    require_translator(generator)
    info = generator.dataset
    height, width = image.shape[:2]
    model_fn = translator(generator)

    def guarded(tiles: torch.Tensor) -> torch.Tensor:
        if check is not None:
            check()
        return model_fn(tiles)

    if fit and info.input_lines is not None:  # at the drawing's size, where its lines are still sharp
        image = normalize_sketch(image, info.input_lines, scale=(height * width) ** 0.5 / info.resolution)
    if fit and (height, width) != (info.resolution, info.resolution):
        small = to_pil(image).resize((info.resolution, info.resolution), Image.Resampling.LANCZOS)
        image = np.asarray(small)[..., None] if np.asarray(small).ndim == 2 else np.asarray(small)

    output = translate_array(
        guarded,
        image,
        info.resolution,
        out_channels=info.channels,
        in_channels=info.input_channels,
        device=generator.device,
    )
    if output.shape[:2] != (height, width):
        output = np.asarray(to_pil(output).resize((width, height), Image.Resampling.BICUBIC))
        output = output[..., None] if output.ndim == 2 else output
    return output
