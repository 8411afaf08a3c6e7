"""`ganforge translate`: run an image-to-image generator (pix2pix, CycleGAN either way) on image files of any size,
one or a folder, in torch or onnxruntime."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from .artifacts.backend import backend_for, open_generator
from .artifacts.generator import SeededSampler
from .artifacts.onnx import OnnxGenerator
from .atomic import check_not_input
from .data.folder import ImageSource
from .data.images import ImageDecodeError, open_image, to_array
from .errors import ConfigError, DataError
from .imaging import save_image
from .models.cyclegan import DIRECTIONS
from .sketch import normalize_sketch as normalize_lines
from .tiling import ModelFn, translate_array

# Default backend: onnxruntime from this many input images up (see `translate`). bench/inference.py, pix2pix 256x256 on
# a quiet 2-core CPU: converting a checkpoint takes 3.2 s and onnxruntime then saves 35 ms per image over torch
# channels_last (162 -> 127 ms), so the conversion pays for itself after ~90 images.
ONNXRUNTIME_FROM_IMAGES = 90
MAX_PIXELS = 64 * 2**20  # larger inputs are refused: tiling holds a few float copies of the image


@dataclass
class TranslateReport:
    written: list[Path] = field(default_factory=list)  # output files
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input, error) for unreadable inputs
    normalized: int = 0  # line drawings whose polarity or line width was changed to the training inputs' (sketch.py)


def translator(generator: SeededSampler, direction: str | None = None) -> ModelFn:
    """The tile function (float [N, C_in, R, R] -> [N, C, R, R]) of an image-to-image generator, in its backend;
    `direction` (a2b | b2a) picks the way for CycleGAN models, which hold both."""
    if not generator.dataset.paired:
        raise ConfigError(
            f"{generator.source} generates from noise; translate needs an image-to-image model "
            f"(--model pix2pix or cyclegan)"
        )
    two_way = generator.dataset.unpaired  # CycleGAN: both directions in one module
    if direction is not None and not two_way:
        raise ConfigError(
            f"--direction {direction}: {generator.source} is a {generator.model.name} model that "
            f"translates one way (A -> B); --direction is for CycleGAN models"
        )
    if direction not in (None, *DIRECTIONS):
        raise ConfigError(f"--direction {direction!r}: choose one of {', '.join(DIRECTIONS)}")
    if isinstance(generator, OnnxGenerator):
        if direction == "b2a":
            raise ConfigError(
                "--direction b2a: an ONNX graph holds the a2b direction only; translate b2a from the "
                "checkpoint or export with --backend torch"
            )
        return generator.translate_fn()
    module = generator.module.to(memory_format=torch.channels_last)  # bench/pix2pix.py: 1.2-1.3x on tile batches
    options = {"direction": direction or "a2b"} if two_way else {}

    @torch.no_grad()
    def run(tiles: torch.Tensor) -> torch.Tensor:
        return module(tiles, **options).float()

    return run


def translate(
    checkpoint: str | Path,
    source: str | Path,
    out: str | Path,
    device: str = "cpu",
    overlap: int | None = None,
    backend: str | None = None,
    direction: str | None = None,
    normalize_sketch: bool = True,
) -> TranslateReport:
    """Translate one image file to `out` (a file), or every image of a folder into `out` (a folder, same names as .png).

    Inputs of any size are padded or tiled to the model's resolution and stitched back without seams. `backend`:
    "torch", "onnxruntime" (CPU), or None: onnxruntime for .onnx files, and for checkpoints and exports when it is
    installed and there are at least ONNXRUNTIME_FROM_IMAGES images (it is faster per image, but converting a
    checkpoint in memory first costs seconds: bench/inference.py and docs/export.md "ONNX and fast inference"); else torch.
    `direction`: a2b (default) or b2a, for CycleGAN models, which translate both ways (b2a runs in torch).
    `normalize_sketch`: a model trained on line drawings (its data info records their width and polarity) gets line
    drawings redrawn to match them first (sketch.normalize_sketch: thin lines thickened, polarity flipped).
    """
    source, out = Path(source).expanduser(), Path(out).expanduser()
    if source.is_dir():
        names = ImageSource(source).names
        if not names:
            raise DataError(f"{source}: no images to translate")
        jobs = [(source / name, out / Path(name).with_suffix(".png")) for name in names]
    elif source.is_file():
        jobs = [(source, out if out.suffix else out / source.with_suffix(".png").name)]
    else:
        raise DataError(f"{source}: no such image file or folder")
    check_not_input([out, *(target for _, target in jobs)], [checkpoint, source, *(path for path, _ in jobs)], "--out")
    many = len(jobs) >= ONNXRUNTIME_FROM_IMAGES and direction != "b2a"
    chosen = backend_for(checkpoint, backend, prefer_onnxruntime=many)
    generator = open_generator(checkpoint, chosen, device)
    model_fn = translator(generator, direction)
    info = generator.dataset
    if overlap is not None and not 0 <= overlap <= info.resolution // 2:
        raise ConfigError(
            f"--overlap {overlap}: must be in 0..{info.resolution // 2} (at most half of the model's "
            f"{info.resolution} px tile)"
        )
    report = TranslateReport()
    for path, target in jobs:
        try:
            image = to_array(open_image(path, str(path)), 3 if info.input_channels == 3 else 1)
            height, width = image.shape[:2]
            if height * width > MAX_PIXELS:
                raise ImageDecodeError(
                    "too large",
                    f"{path} is {width}x{height} ({height * width / 2**20:.0f} MP), "
                    f"more than the {MAX_PIXELS // 2**20} MP translate takes",
                )
        except (ImageDecodeError, OSError) as error:
            report.failed.append((str(path), str(error)))
            continue
        if normalize_sketch and info.input_lines is not None:
            normalized = normalize_lines(image, info.input_lines)
            report.normalized += normalized is not image
            image = normalized
        output = translate_array(
            model_fn,
            image,
            info.resolution,
            overlap,
            out_channels=info.channels,
            in_channels=info.input_channels,
            device=generator.device,
            progress=True,
        )
        report.written.append(save_image(output, target))
    if not report.written:
        raise DataError(f"{source}: no input could be read; first error: {report.failed[0][1]}")
    return report
