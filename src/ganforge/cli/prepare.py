"""`ganforge prepare` and `ganforge pairs`: clean training zips and paired (A, B) data from folders of photos."""

from __future__ import annotations

import click

from ..atomic import check_writable
from ..errors import ConfigError
from . import main
from .options import output_path, parse_size


@main.command()
@click.argument("src", type=click.Path())
@click.option("--task", required=True, help="edges, denoise, rain, superres, repair, colorize or cartoon.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    callback=output_path(folder=True),
    help="Folder for A/ and B/ (or A|B images).",
)
@click.option(
    "--resolution",
    default=256,
    show_default=True,
    type=int,
    help="Photos resized and centre-cropped to this (0: keep).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Makes every pair reproducible.")
@click.option(
    "--holdout",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Pairs set aside in OUT/holdout for evaluation.",
)
@click.option(
    "--layout",
    type=click.Choice(["folders", "side-by-side", "unpaired"]),
    help="A/ + B/ folders (default), pix2pix's side-by-side A|B images, or unpaired trainA/ (photos) + "
    "trainB/ (made from OTHER photos) for CycleGAN (default for --task cartoon).",
)
@click.option("--factor", type=int, help="superres: downscale factor (2 or 4).")
@click.option("--edges", "edge_method", type=click.Choice(["xdog", "canny"]), help="edges: XDoG (default) or Canny.")
def pairs(src, task, out, resolution, seed, holdout, layout, factor, edge_method) -> None:
    """Make (A, B) training pairs from any folder of photos: B = the photo, A = edges, noise, rain, a downscaled,
    damaged or grayscale copy. Then train pix2pix on them.

    \b
    Examples:
      ganforge pairs --task edges ~/photos/cats --out cat-pairs --holdout 50
      ganforge train --model pix2pix --data cat-pairs --resolution 256 --batch 4 --mirror --jitter
      ganforge pairs --task superres --factor 2 ~/photos --out sr-pairs
      ganforge pairs --task cartoon ~/photos --out photo2cartoon --holdout 50   (unpaired, for CycleGAN)
      ganforge train --model cyclegan --data photo2cartoon --resolution 128 --batch 1
    """
    from ..data.pair_tasks import make_pairs

    layout = layout or ("unpaired" if task == "cartoon" else "folders")
    options = {k: v for k, v in (("factor", factor), ("method", edge_method)) if v is not None}
    report = make_pairs(task, src, out, resolution or None, seed, holdout, layout, options or None)
    for name, reason, detail in report.skipped:
        click.echo(f"skipped {name}: {reason} ({detail})", err=True)
    if layout == "unpaired":
        click.echo(
            f"wrote {report.written} unpaired images to {report.out}: photos in trainA/, {task} images made "
            f"from other photos in trainB/"
            + (
                f"; {report.holdout} held-out photos in testA/ with their {task} images in testB/"
                if report.holdout
                else ""
            )
            + f"; skipped {len(report.skipped)}"
        )
        return
    click.echo(
        f"wrote {report.written} {task} pairs to {report.out}"
        + (f", {report.holdout} held out in {report.out / 'holdout'}" if report.holdout else "")
        + f"; skipped {len(report.skipped)}"
    )


@main.command()
@click.argument("src", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="The .zip to write (--format shards: the folder).")
@click.option("--resolution", default=64, show_default=True, type=int, help="Output side (power of two).")
@click.option("--channels", type=click.Choice(["1", "3"]), help="1 (grayscale) or 3 (RGB); default: detected.")
@click.option("--min-size", type=int, help="Skip images whose shorter side is smaller (default: resolution/4).")
@click.option("--strict", is_flag=True, help="Stop at the first bad file instead of skipping it.")
@click.option("--workers", type=int, help="Decoding processes (default: CPU count, at most 8).")
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["zip", "shards"]),
    default="zip",
    show_default=True,
    help="zip: one zip of PNGs; shards: a folder of WebDataset tar shards + index.json, for data sets "
    "larger than memory or read from object storage (train with --data DIR or its URL).",
)
@click.option(
    "--shard-size", default="1GB", show_default=True, help="--format shards: most bytes per shard (e.g. 500MB, 2GB)."
)
def prepare(src, out, resolution, channels, min_size, strict, workers, out_format, shard_size) -> None:
    """Convert a folder or zip of images into a clean training zip or tar shards, reporting each skipped file and why.

    \b
    Examples:
      ganforge prepare ~/photos --out photos-64.zip --resolution 64
      ganforge prepare ~/photos --out photos-256 --format shards --shard-size 1GB --resolution 256
    """
    from ..data.prepare import prepare_dataset

    try:
        check_writable(out, folder=out_format == "shards")
        shard_bytes = parse_size(shard_size, "--shard-size")
    except ConfigError as error:
        raise click.BadParameter(str(error)) from None
    report = prepare_dataset(
        src, out, resolution, int(channels) if channels else None, min_size, strict, workers, out_format, shard_bytes
    )
    for name, reason, detail in report.skipped:
        click.echo(f"skipped {name}: {reason} ({detail})", err=True)
    classes = f", {len(report.class_names)} classes" if report.class_names else ""
    shards = f" in {len(list(report.out.glob('*.tar')))} shards" if out_format == "shards" else ""
    click.echo(
        f"wrote {report.out}{shards}: {report.converted} images at {report.resolution}x{report.resolution}, "
        f"{report.channels} channel(s){classes}; skipped {len(report.skipped)}"
    )
