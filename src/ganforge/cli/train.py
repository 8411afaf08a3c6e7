"""`ganforge train`: every training flag, resolved into one config, then the one training loop."""
from __future__ import annotations

import os
import sys

import click

from ..errors import GanforgeError
from . import main



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
    ("--data-a", "data.source_a", str, "CycleGAN: folder or zip of domain A images (with --data-b)."),
    ("--data-b", "data.source_b", str, "CycleGAN: folder or zip of domain B images (with --data-a)."),
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
    from .. import dist
    from ..train.loop import train as run_training

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


