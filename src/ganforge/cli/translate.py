"""`ganforge translate`: run an image-to-image model on files or folders of any size."""

from __future__ import annotations

from pathlib import Path

import click

from ..atomic import check_writable
from ..errors import ConfigError
from . import main
from .options import BACKEND_CHOICES, BACKEND_HELP


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.argument("source", type=click.Path())
@click.option(
    "--out",
    required=True,
    type=click.Path(),
    help="Output file for one input (.png, .jpg, .webp or .gif), or a folder.",
)
@click.option(
    "--overlap",
    type=click.IntRange(0),
    help="Tile overlap in pixels for inputs larger than the model (default: size/4, at most size/2).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option(
    "--backend",
    type=click.Choice(BACKEND_CHOICES),
    help=BACKEND_HELP[:-1] + ", or onnxruntime when installed and there are 90+ images.",
)
@click.option("--direction", type=click.Choice(["a2b", "b2a"]), help="CycleGAN: domain A -> B (default) or B -> A.")
@click.option(
    "--normalize-sketch/--no-normalize-sketch",
    default=True,
    show_default=True,
    help="For models trained on line drawings (edges): redraw line-drawing inputs with the training lines' "
    "polarity and width (thin lines thickened) before translating.",
)
def translate(checkpoint, source, out, overlap, device, backend, direction, normalize_sketch) -> None:
    """Translate images with an image-to-image model (pix2pix, CycleGAN): one file, or every image of a folder.

    Any input size works: smaller inputs are padded, larger ones tiled and blended without seams.

    \b
    Examples:
      ganforge translate runs/00002-shapes-edges-pix2pix-64 sketch.png --out painted.png
      ganforge translate runs/00002-shapes-edges-pix2pix-64 sketches/ --out painted/
      ganforge translate edges.onnx sketches/ --out painted/      # onnxruntime (ganforge export --format onnx)
      ganforge translate runs/00003-digits-stylized-cyclegan-32 styled/ --out plain/ --direction b2a
    """
    from ..dist import select_device
    from ..imaging import still_format
    from ..translation import translate as translate_images

    to_file = Path(source).is_file() and bool(Path(out).suffix)  # else a folder of .png files
    try:
        check_writable(out, folder=not to_file)
    except ConfigError as error:
        raise ConfigError(f"--out {error}") from None
    if to_file:
        still_format(out, flag="--out")
    report = translate_images(
        checkpoint,
        source,
        out,
        str(select_device(device)),
        overlap,
        backend=backend,
        direction=direction,
        normalize_sketch=normalize_sketch,
    )
    for path, error in report.failed:
        click.echo(f"skipped {path}: {error}", err=True)
    if report.normalized:
        click.echo(
            f"{report.normalized} line drawing(s) redrawn to the training lines' width and polarity "
            f"(--no-normalize-sketch to translate them as drawn)"
        )
    click.echo(
        f"translated {len(report.written)} image(s)"
        + (f": {report.written[0]}" if len(report.written) == 1 else f" into {out}")
    )
