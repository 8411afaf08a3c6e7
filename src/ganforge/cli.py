"""The `ganforge` command: thin wrappers over the public API; each command's --help ends with a runnable example."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .errors import GanforgeError


def _fail(error: Exception) -> None:
    click.echo(f"error: {error}", err=True)
    sys.exit(1)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GanforgeError as error:
            _fail(error)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="ganforge")
def main() -> None:
    """ganforge: train, sample and export GANs on your own images.

    \b
    Example:
      ganforge train --data digits --model dcgan --resolution 32 --kimg 40 --out runs/
    """


# (flag, dotted config key, click type, help)
TRAIN_OPTIONS = [
    ("--data", "data.source", str, "Built-in dataset (digits, stacked-digits, shapes, mnist), NAME:PATH (celeba:, ffhq:), a folder or a zip."),
    ("--model", "model.name", str, "Registered model name."),
    ("--resolution", "data.resolution", int, "Image side in pixels (power of two)."),
    ("--channels", "data.channels", click.IntRange(1, 3), "Force 1 (grayscale) or 3 (RGB) channels."),
    ("--kimg", "train.total_kimg", float, "Train until this many thousand real images were shown."),
    ("--minutes", "train.minutes", float, "Also stop after this many minutes of training (with final samples)."),
    ("--batch", "train.batch", int, "Global batch size (split across torchrun processes)."),
    ("--out", "train.out", str, "Parent folder of numbered run directories."),
    ("--name", "train.name", str, "Run-directory suffix."),
    ("--loss", "loss.name", str, "bce (non-saturating), hinge, wgan-gp or lsgan."),
    ("--r1-gamma", "loss.r1_gamma", float, "R1 penalty weight on reals (0: off)."),
    ("--gp-weight", "loss.gp_weight", float, "WGAN-GP penalty weight."),
    ("--augment", "augment.policy", str, "none, diffaug, ada (adaptive, Karras et al. 2020), or a comma list of color,translation,cutout."),
    ("--ada-target", "augment.ada_target", float, "ADA: target of r_t = E[sign(D(real))] (default 0.6)."),
    ("--ada-kimg", "augment.ada_kimg", float, "ADA: kimg for p to move from 0 to 1 (default 500)."),
    ("--lr", "optim.lr", float, "Adam learning rate (G, and D unless --lr-d)."),
    ("--lr-d", "optim.lr_d", float, "Adam learning rate of D."),
    ("--d-steps", "optim.d_steps", int, "D updates per G update."),
    ("--z-dim", "model.z_dim", int, "Noise length."),
    ("--g-channels", "model.g_channels", int, "Generator width."),
    ("--d-channels", "model.d_channels", int, "Discriminator width."),
    ("--g-norm", "model.g_norm", str, "batch, instance or none."),
    ("--d-norm", "model.d_norm", str, "auto, batch, instance, layer, spectral or none."),
    ("--d-layers", "model.d_layers", int, "PatchGAN depth for pix2pix (3: 70x70 patches)."),
    ("--pack", "model.pack", int, "PacGAN: D judges this many samples at once (2 fights mode collapse)."),
    ("--w-dim", "model.w_dim", int, "StyleGAN2: length of w."),
    ("--mapping-layers", "model.mapping_layers", int, "StyleGAN2: mapping-network depth."),
    ("--style-mixing", "model.style_mixing", float, "StyleGAN2: style-mixing probability (paper: 0.9)."),
    ("--start-resolution", "model.start_resolution", int, "Progressive growing: first training resolution (default 8)."),
    ("--phase-kimg", "train.phase_kimg", float, "Progressive growing: kimg per fade-in and per stable phase (ProGAN: 600)."),
    ("--precision", "train.precision", click.Choice(["fp32", "bf16", "fp16"]), "Mixed precision of forward passes (StyleGAN2: highest resolutions only); for GPUs, slow on most CPUs."),
    ("--mixed-resolutions", "model.mixed_resolutions", int, "StyleGAN2: how many highest resolutions use --precision (default 4)."),
    ("--r1-interval", "loss.r1_interval", int, "Lazy R1: every N D steps (StyleGAN2: 16)."),
    ("--pl-weight", "loss.pl_weight", float, "StyleGAN2 path-length regularisation weight (paper: 2)."),
    ("--pl-interval", "loss.pl_interval", int, "Path-length regularisation every N G steps."),
    ("--l1-weight", "loss.l1_weight", float, "pix2pix: weight of the L1 distance to the target (lambda)."),
    ("--seed", "train.seed", int, "Seed of weights, data order, noise and augmentation."),
    ("--ema-kimg", "train.ema_kimg", float, "Half-life of the generator EMA in kimg (0: off)."),
    ("--snapshot-kimg", "train.snapshot_every_kimg", float, "Sample grid + checkpoint interval in kimg."),
    ("--keep", "train.keep_checkpoints", int, "Newest checkpoints to keep."),
    ("--grid", "train.grid_size", int, "Images per sample grid."),
    ("--device", "train.device", str, "auto, cpu, cuda, cuda:N or mps."),
    ("--workers", "data.workers", int, "Data-loading worker processes."),
    ("--subset", "data.subset", int, "Train on this many images only (seeded choice), e.g. --subset 500."),
    ("--metrics-every-kimg", "train.metrics_every_kimg", float, "Evaluate this often into metrics.jsonl; keeps best.pt by FID."),
    ("--metrics", "train.metrics", str, "Metrics during training, e.g. fid,kid (see ganforge eval)."),
    ("--metrics-num", "train.metrics_num", int, "Generated images per evaluation during training."),
    ("--metrics-extractor", "train.metrics_extractor", str, "auto (digits for digit data, else inception), or a name."),
]


def _train_options(function):
    for option, key, kind, text in reversed(TRAIN_OPTIONS):
        function = click.option(option, key.replace(".", "__"), type=kind, default=None, help=text)(function)
    for option, key, text in (("--cond/--no-cond", "data__cond", "Class-conditional training on the labels."),
                              ("--mirror/--no-mirror", "data__mirror", "Random horizontal flips of reals (pairs alike)."),
                              ("--jitter/--no-jitter", "data__jitter", "Paired data: random 286/256 zoom-and-crop, A and B alike."),
                              ("--progressive/--no-progressive", "model__progressive", "StyleGAN2: progressive growing with fade-in (ProGAN)."),
                              ("--compile/--no-compile", "train__compile", "torch.compile the forward passes (GPU speed-up).")):
        function = click.option(option, key, default=None, help=text)(function)
    return function


@main.command()
@_train_options
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="JSON config file (flags override it).")
@click.option("--preset", help="Named settings applied first: stylegan2-32, stylegan2-64, stylegan2-256, stylegan2-1024.")
@click.option("--resume", help="auto (newest run under --out), a run folder, or a checkpoint file.")
@click.option("--dry-run", is_flag=True, help="Resolve and save the config, then stop.")
@click.option("--no-progress", is_flag=True, help="No progress bar or TensorBoard logs.")
def train(config_file, preset, resume, dry_run, no_progress, **flags) -> None:
    """Train a GAN; writes samples, checkpoints, stats.jsonl and TensorBoard logs into a new run folder.

    \b
    Examples:
      ganforge train --data digits --model dcgan --resolution 32 --kimg 40 --batch 64 --out runs/
      ganforge train --data ~/photos --resolution 64 --augment diffaug --kimg 500
      ganforge train --preset stylegan2-32 --data shapes --kimg 200
      ganforge train --preset stylegan2-64 --data ~/photos --progressive --phase-kimg 100 --kimg 1000
      ganforge train --preset stylegan2-256 --data ffhq:~/ffhq.zip --precision bf16 --compile --augment ada
      ganforge train --resume auto --kimg 200
      torchrun --nproc_per_node 2 -m ganforge train --data shapes --kimg 100
    """
    from .train import dist
    from .train.loop import train as run_training

    overrides = {key.replace("__", "."): value for key, value in flags.items() if value is not None}
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    try:
        result = run_training(overrides=overrides, config_file=config_file, preset=preset, resume=resume,
                              dry_run=dry_run, progress=not no_progress)
    except GanforgeError as error:
        if distributed:
            click.echo(f"error: {error}", err=True)
            os._exit(1)
        raise
    if dry_run:
        click.echo((result.run_dir / "config.json").read_text())
        click.echo(f"run directory: {result.run_dir} (dry run: nothing trained)")
    elif not distributed or dist.local_rank() == 0:
        click.echo(f"run directory: {result.run_dir}\nsamples: {result.grid}\ncheckpoint: {result.checkpoint}")
    if distributed:  # gloo ranks can abort at interpreter exit; leave the group and exit at once
        dist.shutdown()
        sys.stdout.flush()
        os._exit(0)


def _parse_classes(text: str | None):
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r}: give a class index or a comma list of indices", param_hint="--class")
    return values[0] if len(values) == 1 else values


def _seed_list(ctx, param, text: str | None) -> list[int] | None:
    """'1,2,3' or ranges like '0-4' (inclusive) -> [1, 2, 3]; a bad list is reported under the option's name."""
    if text is None:
        return None
    seeds = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or (last and not last.isdigit()) or (last and int(last) < int(first)):
            raise click.BadParameter(f"{text!r}: give seeds (integers >= 0) as a comma list like 1,2,3 or a range "
                                     f"like 0-4")
        seeds += range(int(first), int(last or first) + 1)
    return seeds


TRUNCATION_HELP = ("Truncation psi: 1 samples plainly, lower trades variety for typicality (StyleGAN: w toward its "
                   "average; DCGAN: z scaled by psi), 0 gives one image for all seeds.")
CLASS_HELP = "Class index for conditional models (default 0)."


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--num", default=64, show_default=True, type=click.IntRange(1, 100000), help="How many images.")
@click.option("--seed", default=0, show_default=True, type=int, help="First seed; image k uses seed+k.")
@click.option("--grid", "grid_path", type=click.Path(dir_okay=False), help="Write one grid PNG here.")
@click.option("--outdir", type=click.Path(file_okay=False), help="Write one PNG per image here.")
@click.option("--class", "classes", help="Class index (or comma list) for conditional models.")
@click.option("--truncation", default=1.0, show_default=True, type=float, help=TRUNCATION_HELP)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
def sample(checkpoint, num, seed, grid_path, outdir, classes, truncation, device) -> None:
    """Generate images from a checkpoint or an exported generator.

    \b
    Examples:
      ganforge sample runs/00000-digits-dcgan-32 --num 64 --seed 0 --grid samples.png
      ganforge sample exported/ --num 100 --outdir images/ --class 3
      ganforge sample runs/00005-ffhq-stylegan2-256 --num 16 --truncation 0.7 --grid typical.png
    """
    import torch

    from .export import load
    from .imaging import make_grid, save_png
    from .train.dist import select_device

    if not grid_path and not outdir:
        raise click.UsageError("give --grid FILE.png or --outdir DIR (or both)")
    generator = load(checkpoint, select_device(device))
    images = generator.generate(num, seed, _parse_classes(classes), truncation=truncation)  # uint8 [N, H, W, C]
    if grid_path:
        save_png(make_grid(torch.from_numpy(images).permute(0, 3, 1, 2)), grid_path)
        click.echo(f"grid of {num} images: {grid_path}")
    if outdir:
        for index, image in enumerate(images):
            save_png(image, Path(outdir) / f"seed{seed + index:06d}.png")
        click.echo(f"{num} images: {outdir}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--rows", required=True, callback=_seed_list, help="Row seeds: they give the coarse styles (pose, shape).")
@click.option("--cols", required=True, callback=_seed_list, help="Column seeds: they give the fine styles (colours, texture).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The grid PNG to write.")
@click.option("--crossover", type=click.IntRange(1),
              help="ws taken from the row seed (default 6: the layers up to 16x16; at most half of them).")
@click.option("--truncation", default=1.0, show_default=True, type=float, help=TRUNCATION_HELP)
@click.option("--class", "class_index", type=click.IntRange(0), help=CLASS_HELP)
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
    from .export import load
    from .imaging import make_grid, save_png
    from .latent import style_mixing_grid
    from .train.dist import select_device

    generator = load(checkpoint, select_device(device))
    tiles = style_mixing_grid(generator, rows, cols, crossover, truncation, class_index)  # [(R+1)*(C+1), C, H, W]
    save_png(make_grid(tiles, columns=len(cols) + 1), out)
    click.echo(f"style-mixing grid of {len(rows)} x {len(cols)} seeds: {out}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--seeds", required=True, callback=_seed_list, help="Seeds to pass through in order, e.g. 1,2,3 or 0-4.")
@click.option("--frames", default=60, show_default=True, type=click.IntRange(2), help="Total frames of the loop.")
@click.option("--fps", default=20, show_default=True, type=click.IntRange(1, 50), help="GIF frames per second.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="walk.gif (an animation) or walk.png (a grid of the frames).")
@click.option("--truncation", default=1.0, show_default=True, type=float, help=TRUNCATION_HELP)
@click.option("--class", "class_index", type=click.IntRange(0), help=CLASS_HELP)
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
    from .export import load
    from .latent import interpolation_frames, save_walk, walk_format
    from .train.dist import select_device

    walk_format(out)  # fail before rendering
    generator = load(checkpoint, select_device(device))
    path = save_walk(interpolation_frames(generator, seeds, frames, truncation, class_index), out, fps)
    click.echo(f"{frames} frames through seeds {','.join(map(str, seeds))}: {path}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(checkpoint, as_json) -> None:
    """Describe a checkpoint or export: model, resolution, kimg, dataset, statistics and metrics.

    \b
    Example:
      ganforge info runs/00000-digits-dcgan-32/checkpoint-00000625.pt
    """
    from .export import describe

    details = describe(checkpoint)
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    for key, value in details.items():
        click.echo(f"{key:>14}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for config.json + generator.safetensors.")
def export(checkpoint, out) -> None:
    """Export the EMA generator as config.json + generator.safetensors (no pickles); load it with ganforge.load.

    \b
    Example:
      ganforge export runs/00000-digits-dcgan-32 --out exported/digits
    """
    from .export import export as export_generator

    folder = export_generator(checkpoint, out)
    click.echo(f"exported: {folder}/config.json, {folder}/generator.safetensors")


@main.command()
@click.argument("src", type=click.Path())
@click.option("--task", required=True, help="edges, denoise, rain, superres, repair or colorize.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for A/ and B/ (or A|B images).")
@click.option("--resolution", default=256, show_default=True, type=int, help="Photos resized and centre-cropped to this (0: keep).")
@click.option("--seed", default=0, show_default=True, type=int, help="Makes every pair reproducible.")
@click.option("--holdout", default=0, show_default=True, type=click.IntRange(0), help="Pairs set aside in OUT/holdout for evaluation.")
@click.option("--layout", type=click.Choice(["folders", "side-by-side"]), default="folders", show_default=True,
              help="A/ + B/ folders, or pix2pix's side-by-side A|B images.")
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
    """
    from .data.pairs import make_pairs

    options = {k: v for k, v in (("factor", factor), ("method", edge_method)) if v is not None}
    report = make_pairs(task, src, out, resolution or None, seed, holdout, layout, options or None)
    for name, reason, detail in report.skipped:
        click.echo(f"skipped {name}: {reason} ({detail})", err=True)
    click.echo(f"wrote {report.written} {task} pairs to {report.out}" +
               (f", {report.holdout} held out in {report.out / 'holdout'}" if report.holdout else "") +
               f"; skipped {len(report.skipped)}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.argument("source", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Output file (for one input) or folder.")
@click.option("--overlap", type=int, help="Tile overlap in pixels for inputs larger than the model (default: size/4).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
def translate(checkpoint, source, out, overlap, device) -> None:
    """Translate images with an image-to-image model (pix2pix): one file, or every image of a folder.

    Any input size works: smaller inputs are padded, larger ones tiled and blended without seams.

    \b
    Examples:
      ganforge translate runs/00002-shapes-edges-pix2pix-64 sketch.png --out painted.png
      ganforge translate runs/00002-shapes-edges-pix2pix-64 sketches/ --out painted/
    """
    from .train.dist import select_device
    from .translate import translate as translate_images

    report = translate_images(checkpoint, source, out, str(select_device(device)), overlap)
    for path, error in report.failed:
        click.echo(f"skipped {path}: {error}", err=True)
    click.echo(f"translated {len(report.written)} image(s)" + (f": {report.written[0]}" if len(report.written) == 1
                                                               else f" into {out}"))


@main.command("eval")
@click.option("--real", required=True, help="Real data: a built-in dataset, NAME:PATH, a folder or a zip; for pix2pix, held-out pairs.")
@click.option("--fake", required=True, type=click.Path(), help="A checkpoint, run folder, export, or folder of images.")
@click.option("--metrics", default="fid,kid", show_default=True,
              help="Comma list of fid, kid, is, pr, dc, mifid, memorization, modes; for pix2pix: psnr, ssim, l1, lpips, fid, kid.")
@click.option("--extractor", help="inception or digits (or a registered name); default: digits for digit data.")
@click.option("--num", default=10000, show_default=True, type=click.IntRange(2), help="Generated images (and at most this many real).")
@click.option("--batch", default=64, show_default=True, type=click.IntRange(1), help="Batch size.")
@click.option("--resolution", type=int, help="Compare at this size (default: the generator's, or the image folder's).")
@click.option("--seed", default=0, show_default=True, type=int, help="First generator seed and real-subset seed.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--pairs-png", type=click.Path(dir_okay=False), help="With memorization: PNG of the closest pairs.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the results as JSON here.")
def evaluate_command(real, fake, metrics, extractor, num, batch, resolution, seed, device, pairs_png, json_path) -> None:
    """Score generated images against real data: FID, KID, IS, precision/recall, density/coverage, MiFID,
    memorisation, and mode coverage on stacked-digits.

    \b
    Examples:
      ganforge eval --real digits --fake runs/00000-demo --metrics fid,kid,is,pr --num 2000
      ganforge eval --real stacked-digits --fake runs/00003-stacked --metrics modes,fid --num 26000
      ganforge eval --real cat-pairs/holdout --fake runs/00004-cat-pairs-pix2pix-256 --metrics psnr,ssim,l1,fid
      ganforge eval --real ~/dogs --fake samples/ --metrics mifid,memorization --extractor inception --pairs-png pairs.png
    """
    from .atomic import write_text
    from .metrics import evaluate
    from .metrics.report import format_table
    from .train.dist import select_device

    if pairs_png and "memor" not in metrics:
        metrics += ",memorization"
    results = evaluate(real, fake, metrics, extractor, num, batch, str(select_device(device)), seed, resolution,
                       pairs_png)
    click.echo(format_table(results))
    if json_path:
        write_text(json_path, json.dumps(results, indent=2) + "\n")
        click.echo(f"json: {json_path}")


@main.command()
@click.argument("src", type=click.Path())
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The .zip to write.")
@click.option("--resolution", default=64, show_default=True, type=int, help="Output side (power of two).")
@click.option("--channels", type=click.IntRange(1, 3), help="1 or 3; default: detected.")
@click.option("--min-size", type=int, help="Skip images whose shorter side is smaller (default: resolution/4).")
@click.option("--strict", is_flag=True, help="Stop at the first bad file instead of skipping it.")
@click.option("--workers", type=int, help="Decoding processes (default: CPU count, at most 8).")
def prepare(src, out, resolution, channels, min_size, strict, workers) -> None:
    """Convert a folder or zip of images into a clean training zip, reporting each skipped file and why.

    \b
    Example:
      ganforge prepare ~/photos --out photos-64.zip --resolution 64
    """
    from .data.prepare import prepare_dataset

    report = prepare_dataset(src, out, resolution, channels, min_size, strict, workers)
    for name, reason, detail in report.skipped:
        click.echo(f"skipped {name}: {reason} ({detail})", err=True)
    classes = f", {len(report.class_names)} classes" if report.class_names else ""
    click.echo(f"wrote {report.out}: {report.converted} images at {report.resolution}x{report.resolution}, "
               f"{report.channels} channel(s){classes}; skipped {len(report.skipped)}")

