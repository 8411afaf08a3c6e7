"""`ganforge sample`, `mix` and `interpolate`: images, style-mixing grids and latent walks from a generator."""

from __future__ import annotations

from pathlib import Path

import click

from ..atomic import check_not_input
from ..limits import check_in_memory
from . import main
from .options import (
    BACKEND_CHOICES,
    BACKEND_HELP,
    CLASS_HELP,
    MAX_FRAMES,
    MAX_IMAGES,
    MAX_SEED,
    TRUNCATION_HELP,
    one_class,
    output_path,
    parse_classes,
    seed_list,
)

OUTDIR_BATCH = 256  # --outdir writes images this many at a time


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--num", default=64, show_default=True, type=click.IntRange(1, MAX_IMAGES), help="How many images.")
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED), help="First seed; image k uses seed+k."
)
@click.option(
    "--grid",
    "grid_path",
    type=click.Path(dir_okay=False),
    callback=output_path(),
    help="Write one grid image here (.png, .jpg, .webp or .gif).",
)
@click.option(
    "--outdir",
    type=click.Path(file_okay=False),
    callback=output_path(folder=True),
    help="Write one PNG per image here.",
)
@click.option(
    "--class",
    "classes",
    callback=parse_classes,
    help="Conditional models: a class name or index for all images, or a comma list of one per image.",
)
@click.option("--truncation", default=1.0, show_default=True, type=float, help=TRUNCATION_HELP)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--backend", type=click.Choice(BACKEND_CHOICES), help=BACKEND_HELP)
def sample(checkpoint, num, seed, grid_path, outdir, classes, truncation, device, backend) -> None:
    """Generate images from a checkpoint or an exported generator.

    \b
    Examples:
      ganforge sample runs/00000-digits-dcgan-32 --num 64 --seed 0 --grid samples.png
      ganforge sample exported/ --num 100 --outdir images/ --class 3
      ganforge sample runs/00005-ffhq-stylegan2-256 --num 16 --truncation 0.7 --grid typical.png
      ganforge sample faces.onnx --num 16 --grid onnx.png     # onnxruntime (ganforge export --format onnx)
    """
    import torch

    from ..artifacts.backend import open_generator
    from ..dist import select_device
    from ..imaging import make_grid, save_image, save_png, still_format

    if not grid_path and not outdir:
        raise click.UsageError("give --grid FILE.png or --outdir DIR (or both)")
    if grid_path:
        still_format(grid_path, flag="--grid")
    check_not_input([grid_path], [checkpoint], "--grid")
    check_not_input([outdir], [checkpoint], "--outdir")
    generator = open_generator(checkpoint, backend, select_device(device))
    labels = generator.labels_for(num, classes)  # [N] or None; checks --class before any image is made
    if grid_path:
        check_in_memory(
            num, generator.dataset, f"--grid with --num {num}", "write them with --outdir, a batch at a time"
        )
    step = num if grid_path else OUTDIR_BATCH  # a grid holds all images at once; files go out a batch at a time
    for start in range(0, num, step):
        count = min(step, num - start)
        part = None if labels is None else labels[start : start + count].tolist()
        images = generator.generate(count, seed + start, part, truncation=truncation)  # uint8 [n, H, W, C]
        for index, image in enumerate(images if outdir else []):
            save_png(image, Path(outdir) / f"seed{seed + start + index:06d}.png")
    if grid_path:  # one batch: every image
        save_image(make_grid(torch.from_numpy(images).permute(0, 3, 1, 2)), grid_path)
        click.echo(f"grid of {num} images: {grid_path}")
    if outdir:
        click.echo(f"{num} images: {outdir}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--rows", required=True, callback=seed_list, help="Row seeds: they give the coarse styles (pose, shape).")
@click.option(
    "--cols", required=True, callback=seed_list, help="Column seeds: they give the fine styles (colours, texture)."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    callback=output_path(),
    help="The grid image to write (.png, .jpg, .webp or .gif).",
)
@click.option(
    "--crossover",
    type=click.IntRange(1),
    help="ws taken from the row seed (default 6: the layers up to 16x16; at most half of them).",
)
@click.option("--truncation", default=1.0, show_default=True, type=float, help=TRUNCATION_HELP)
@click.option("--class", "class_index", callback=one_class, help=CLASS_HELP)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
def mix(checkpoint, rows, cols, out, crossover, truncation, class_index, device) -> None:
    """Style-mixing grid of a style-based generator (StyleGAN2), as in Karras et al. 2019: the first row shows the
    column seeds, the first column the row seeds, and each cell has the coarse styles of its row seed and the fine
    styles of its column seed.

    \b
    Examples:
      ganforge mix runs/00005-ffhq-stylegan2-256 --rows 85,100,75 --cols 55,821,1789,293 --out mixing.png
      ganforge mix exported/faces --rows 0-3 --cols 10-15 --crossover 4 --truncation 0.7 --out coarse.png
    """
    from ..artifacts import load
    from ..dist import select_device
    from ..imaging import make_grid, save_image, still_format
    from ..latent import style_mixing_grid

    still_format(out, flag="--out")
    check_not_input([out], [checkpoint], "--out")
    generator = load(checkpoint, select_device(device))
    check_in_memory(
        (len(rows) + 1) * (len(cols) + 1),
        generator.dataset,
        f"--rows {len(rows)} x --cols {len(cols)} seeds",
        "mix fewer seeds",
    )
    tiles = style_mixing_grid(generator, rows, cols, crossover, truncation, class_index)  # [(R+1)*(C+1), C, H, W]
    save_image(make_grid(tiles, columns=len(cols) + 1), out)
    click.echo(f"style-mixing grid of {len(rows)} x {len(cols)} seeds: {out}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--seeds", required=True, callback=seed_list, help="Seeds to pass through in order, e.g. 1,2,3 or 0-4.")
@click.option(
    "--frames", default=60, show_default=True, type=click.IntRange(2, MAX_FRAMES), help="Total frames of the loop."
)
@click.option("--fps", default=20, show_default=True, type=click.IntRange(1, 50), help="GIF frames per second.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    callback=output_path(),
    help="walk.gif (an animation) or walk.png (a grid of the frames).",
)
@click.option("--truncation", default=1.0, show_default=True, type=float, help=TRUNCATION_HELP)
@click.option("--class", "class_index", callback=one_class, help=CLASS_HELP)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
def interpolate(checkpoint, seeds, frames, fps, out, truncation, class_index, device) -> None:
    """Animate a looping walk through the images of some seeds, back to the first: spherical interpolation in z
    for DCGAN, linear in w for style-based generators.

    \b
    Examples:
      ganforge interpolate runs/00000-digits-dcgan-32 --seeds 1,2,3 --frames 60 --out walk.gif
      ganforge interpolate exported/faces --seeds 0-5 --frames 120 --fps 30 --truncation 0.7 --out faces.gif
      ganforge interpolate runs/00000-digits-dcgan-32 --seeds 4,9 --frames 16 --out walk.png
    """
    from ..artifacts import load
    from ..dist import select_device
    from ..latent import interpolation_frames, save_walk, walk_format

    walk_format(out)  # fail before rendering
    check_not_input([out], [checkpoint], "--out")
    generator = load(checkpoint, select_device(device))
    check_in_memory(frames, generator.dataset, f"--frames {frames}", "make fewer frames")
    path = save_walk(interpolation_frames(generator, seeds, frames, truncation, class_index), out, fps)
    click.echo(f"{frames} frames through seeds {','.join(map(str, seeds))}: {path}")
