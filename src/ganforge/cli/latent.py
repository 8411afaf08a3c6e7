"""`ganforge project`, `directions` and `edit`: put photos into a generator's latent space, find attribute
directions in it, and render edits along them."""

from __future__ import annotations

from pathlib import Path

import click

from ..limits import DIRECTION_SAMPLES
from . import main
from .options import MAX_SEED, output_path

DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps."


def _scores_text(scores: dict) -> str:
    units = {"psnr": " dB"}
    return ", ".join(
        f"{name.upper()} {value:.{2 if name == 'psnr' else 4}f}{units.get(name, '')}" for name, value in scores.items()
    )


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.argument("photos", nargs=-1, required=True, type=click.Path())
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    callback=output_path(folder=True),
    help="Folder for proj.png (target | reconstruction) and latent.npz; one sub-folder per photo when "
    "there are several.",
)
@click.option(
    "--space",
    type=click.Choice(["z", "w", "w+"]),
    help="Latent space: w (StyleGAN2 default), w+ (one w per layer: closer fits, less editable), z (DCGAN).",
)
@click.option("--steps", default=500, show_default=True, type=click.IntRange(1, 100000), help="Optimisation steps.")
@click.option(
    "--loss",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "lpips", "pixel-ssim"]),
    help="lpips needs its weights (auto uses them only when already present); pixel-ssim works offline.",
)
@click.option(
    "--init-samples",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="0: start at the mean latent (NVlabs); K: start at the best of K sampled latents.",
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED), help="Seed of the exploration noise."
)
@click.option("--gif", is_flag=True, help="Also write proj.gif of the optimisation.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
def project(checkpoint, photos, out, space, steps, loss, init_samples, seed, gif, device) -> None:
    """Project photos into the latent space (optimisation from the mean latent, as NVlabs' StyleGAN2 projector).
    Images of any size and mode are fitted to the model's resolution and channels. StyleGAN2's noise inputs stay
    the model's constant noise (they are not optimised).

    \b
    Examples:
      ganforge project runs/00003-digits-stylegan2-32 seven.png --out proj/seven
      ganforge project exported/faces a.jpg b.jpg --out proj/ --space w+ --steps 1000 --gif
      ganforge project runs/00000-digits-dcgan-32 three.png --out proj/three --space z
    """
    from ..artifacts import load
    from ..atomic import check_not_input
    from ..dist import select_device
    from ..latent.project import project_many, save_projection
    from ..latent.spaces import as_generator

    folders = [Path(out)] if len(photos) == 1 else [Path(out) / f"{i:03d}-{Path(p).stem}" for i, p in enumerate(photos)]
    check_not_input(
        [out, *folders, *(f / name for f in folders for name in ("proj.png", "latent.npz", "proj.gif"))],
        [checkpoint, *photos],
        "--out",
    )
    generator = as_generator(load(checkpoint, select_device(device)))
    frames: list = []
    record = (lambda step, total, images: frames.append(images)) if gif else None
    projections = project_many(generator, list(photos), space, steps, loss, seed, record, init_samples)
    noise = "; StyleGAN2 noise inputs kept constant" if generator.has_styles else ""
    click.echo(f"loss: {projections[0].loss}; space {projections[0].space}; {steps} steps{noise}")
    for index, (photo, projection, folder) in enumerate(zip(photos, projections, folders)):
        written = save_projection(projection, folder, [batch[index] for batch in frames])
        click.echo(f"{photo}: {_scores_text(projection.scores)} -> {', '.join(str(p) for p in written)}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option(
    "--method",
    default="sefa",
    show_default=True,
    type=click.Choice(["sefa", "ganspace", "supervised"]),
    help="sefa: closed form from the weights; ganspace: PCA of sampled latents; supervised: a boundary "
    "from labels (InterFaceGAN).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    callback=output_path(),
    help="The .npz file of directions to write.",
)
@click.option(
    "--num", default=10, show_default=True, type=click.IntRange(1), help="Directions to find (sefa, ganspace)."
)
@click.option("--layers", help="sefa on StyleGAN2: only the synthesis layers of this ws range, e.g. 0-3.")
@click.option(
    "--samples", type=click.IntRange(*DIRECTION_SAMPLES), help="Latents sampled (ganspace: 10000; supervised: 2000)."
)
@click.option("--classifier", help="supervised: NAME:CLASS of a registered extractor with logits, e.g. digits:3.")
@click.option(
    "--labels",
    "labels_path",
    type=click.Path(dir_okay=False),
    help='supervised: labels.json for seeds, {"SEED": 0|1} or {"positive": [...], "negative": [...]}.',
)
@click.option("--positive", type=click.Path(file_okay=False), help="supervised: folder of photos with the attribute.")
@click.option("--negative", type=click.Path(file_okay=False), help="supervised: folder of photos without it.")
@click.option(
    "--keep",
    default=0.1,
    show_default=True,
    type=float,
    help="supervised with --classifier: fraction of samples kept at each extreme of the scores.",
)
@click.option(
    "--steps", default=200, show_default=True, type=click.IntRange(1), help="supervised folders: projection steps."
)
@click.option("--name", help="supervised: the direction's name (default from its label source).")
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED), help="First seed of the sampled latents."
)
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
def directions(
    checkpoint,
    method,
    out,
    num,
    layers,
    samples,
    classifier,
    labels_path,
    positive,
    negative,
    keep,
    steps,
    name,
    seed,
    device,
) -> None:
    """Find attribute directions in the latent space (w for StyleGAN2, z for DCGAN) and save them for `edit`.

    \b
    Examples:
      ganforge directions runs/00003-digits-stylegan2-32 --method sefa --num 10 --out dirs.npz
      ganforge directions runs/00003-digits-stylegan2-32 --method ganspace --num 10 --out pcs.npz
      ganforge directions runs/00003-digits-stylegan2-32 --method supervised --classifier digits:3 --out three.npz
      ganforge directions exported/faces --method supervised --positive smiling/ --negative neutral/ --out smile.npz
    """
    from ..artifacts import load
    from ..atomic import check_not_input
    from ..dist import select_device
    from ..latent.directions import find_directions, save_directions
    from ..latent.edit import parse_layers
    from ..latent.spaces import as_generator

    check_not_input([out], [checkpoint, labels_path, positive, negative], "--out")
    generator = as_generator(load(checkpoint, select_device(device)))
    if method == "sefa":
        options = {"layers": parse_layers(layers, generator)}
    elif method == "ganspace":
        options = {"seed": seed, **({"samples": samples} if samples else {})}
    else:
        options = {
            "classifier": classifier,
            "labels": labels_path,
            "positive": positive,
            "negative": negative,
            "keep": keep,
            "steps": steps,
            "name": name,
            "seed": seed,
            **({"samples": samples} if samples else {}),
        }
    given = {
        "--layers": layers and method != "sefa",
        "--classifier/--labels/--positive/--negative": method != "supervised"
        and any((classifier, labels_path, positive, negative)),
    }
    for flag, misplaced in given.items():
        if misplaced:
            raise click.UsageError(f"{flag} does not apply to --method {method}")
    found = find_directions(generator, method, num, **options)
    save_directions(out, found)
    click.echo(f"{len(found.names)} {method} directions in {found.space}: {out}")
    for key, value in found.scores.items():
        if isinstance(value, list):
            value = " ".join(f"{v:.4g}" for v in value) if value and isinstance(value[0], float) else value
        elif isinstance(value, float):
            value = f"{value:.4f}"
        click.echo(f"  {key}: {value}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--seed", type=click.IntRange(0), help="Edit the image of this seed.")
@click.option("--latent", type=click.Path(dir_okay=False), help="Edit a latent.npz written by `ganforge project`.")
@click.option("--image", type=click.Path(dir_okay=False), help="Project this photo first, then edit it.")
@click.option("--direction", required=True, help="dirs.npz:NAME_OR_INDEX (index 0 when left out).")
@click.option(
    "--strength",
    default="-3:3:7",
    show_default=True,
    help="START:STOP:COUNT or a comma list, in standard deviations of the sampled latents along the "
    "direction; 0 is the unedited image.",
)
@click.option("--layers", help="StyleGAN2: edit only this ws range, e.g. 0-5 (coarse layers) (default all).")
@click.option("--steps", default=500, show_default=True, type=click.IntRange(1), help="Projection steps for --image.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), callback=output_path(), help="The strip PNG to write."
)
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
def edit(checkpoint, seed, latent, image, direction, strength, layers, steps, out, device) -> None:
    """Render a strip of edits along a direction at a range of strengths.

    \b
    Examples:
      ganforge edit runs/00003-digits-stylegan2-32 --seed 7 --direction dirs.npz:sefa0 --strength -3:3:7 --out strip.png
      ganforge edit exported/faces --latent proj/me/latent.npz --direction smile.npz --layers 0-5 --out smile.png
      ganforge edit runs/00000-digits-dcgan-32 --image three.png --direction pcs.npz:2 --out three-pc2.png
    """
    from ..artifacts import load
    from ..atomic import check_not_input
    from ..dist import select_device
    from ..imaging import labelled_row, save_png
    from ..latent.edit import edit as edit_images
    from ..latent.edit import parse_layers, parse_strengths
    from ..latent.spaces import as_generator

    if not out.lower().endswith(".png"):
        raise click.UsageError(f"--out {out}: the strip is written as PNG; end the name in .png")
    strengths = parse_strengths(strength)  # fail before loading anything
    check_not_input([out], [checkpoint, image, latent, direction.rpartition(":")[0] or direction], "--out")
    generator = as_generator(load(checkpoint, select_device(device)))
    strip = edit_images(
        generator,
        direction,
        strengths,
        seed=seed,
        latent=latent,
        image=image,
        layers=parse_layers(layers, generator),
        steps=steps,
    )
    save_png(labelled_row(strip, [f"{s:+.3g}" if s else "0" for s in strengths]), out)
    click.echo(f"{len(strip)} edits at strengths {', '.join(f'{s:g}' for s in strengths)}: {out}")
