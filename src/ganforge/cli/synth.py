"""`ganforge synth` (a labelled synthetic folder from a conditional generator) and `ganforge experiment augment`
(does that synthetic data help a classifier trained on a small labelled set?)."""

from __future__ import annotations

import click

from ..limits import SYNTH_PER_CLASS
from . import main
from .options import MAX_SEED, TRUNCATION_HELP, output_path


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option(
    "--per-class", required=True, type=click.IntRange(*SYNTH_PER_CLASS), help="Synthetic images to write per class."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    callback=output_path(folder=True),
    help="New folder: <class>/*.png + labels.json.",
)
@click.option("--truncation", default=1.0, show_default=True, type=float, help=TRUNCATION_HELP)
@click.option(
    "--filter",
    "filter_",
    default="none",
    show_default=True,
    type=click.Choice(["none", "confident"]),
    help="confident: keep only images a classifier trained on the real data gives their class with "
    "probability >= --confidence (rejects are replaced by new samples, up to 20x per image).",
)
@click.option(
    "--real", help="Real labelled data for the filter's classifier (default: the data the model was trained on)."
)
@click.option("--confidence", type=float, help="Threshold of --filter confident, above 0 and at most 1 (default 0.9).")
@click.option(
    "--classifier-steps",
    default=400,
    show_default=True,
    type=click.IntRange(1),
    help="Training steps of the filter's classifier.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(0, MAX_SEED),
    help="First latent seed (and the classifier's seed).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
def synth(checkpoint, per_class, out, truncation, filter_, real, confidence, classifier_steps, seed, device) -> None:
    """Write a labelled synthetic dataset from a class-conditional checkpoint (DCGAN --cond, conditional StyleGAN2):
    one sub-folder per class and a labels.json, readable with --data DIR.

    \b
    Examples:
      ganforge synth runs/00003-digits-dcgan-32 --per-class 100 --out synthetic/
      ganforge synth runs/00003-digits-dcgan-32 --per-class 100 --filter confident --out synthetic-kept/
    """
    from ..dist import select_device
    from ..synth import synth as write_synthetic

    result = write_synthetic(
        checkpoint,
        per_class,
        out,
        truncation=truncation,
        filter=filter_,
        real=real,
        confidence=confidence,
        seed=seed,
        classifier_steps=classifier_steps,
        device=select_device(device),
    )
    click.echo(f"{len(result.labels)} images in {len(result.class_names)} classes: {out}")
    if filter_ == "confident":
        click.echo(f"filter kept {len(result.labels)}, dropped {sum(result.dropped)}:\n{result.summary()}")
        short = [name for name, count in zip(result.class_names, result.counts()) if count < per_class]
        if short:
            click.echo(
                f"warning: {len(short)} class(es) got fewer than {per_class} confident images: {', '.join(short[:10])}",
                err=True,
            )


@main.group()
def experiment() -> None:
    """Measured experiments on your data."""


def _sizes(ctx, param, text: str):
    from ..errors import ConfigError
    from ..experiments.split import parse_sizes

    try:
        return tuple(parse_sizes(text))
    except ConfigError as error:
        raise click.BadParameter(str(error).split(": ", 1)[1], param_hint="--per-class") from None


@experiment.command()
@click.option(
    "--data", required=True, help="Labelled data: digits, shapes, or a folder (class sub-folders or labels.json)."
)
@click.option(
    "--per-class",
    "sizes",
    default="5,10,20,50",
    show_default=True,
    callback=_sizes,
    help="Training images per class, a comma list.",
)
@click.option("--seeds", default=5, show_default=True, type=click.IntRange(1), help="Repetitions (seeds 0..N-1).")
@click.option(
    "--model",
    default="dcgan",
    show_default=True,
    type=click.Choice(["dcgan", "stylegan2"]),
    help="The conditional GAN trained on each subset.",
)
@click.option("--kimg", default=20.0, show_default=True, type=float, help="GAN training length per subset.")
@click.option(
    "--minutes",
    default=0.0,
    show_default=True,
    type=float,
    help="Also stop each GAN after this many minutes (0: no limit).",
)
@click.option("--resolution", default=16, show_default=True, type=int, help="Image side for GAN and classifier.")
@click.option(
    "--gan-augment",
    default="diffaug",
    show_default=True,
    help="D augmentation on the tiny subset: diffaug, ada, none, ...",
)
@click.option(
    "--synthetic-per-class",
    default=100,
    show_default=True,
    type=click.IntRange(*SYNTH_PER_CLASS),
    help="Synthetic images per class.",
)
@click.option(
    "--synthetic-fraction",
    default=0.25,
    show_default=True,
    type=float,
    help="Share of each classifier batch drawn from the synthetic images in arms (c) and (d).",
)
@click.option(
    "--filter",
    "filter_",
    default="confident",
    show_default=True,
    type=click.Choice(["none", "confident"]),
    help="Keep only synthetic images that arm (b)'s classifier (trained on the subset) is sure about.",
)
@click.option("--confidence", default=0.8, show_default=True, type=float, help="Threshold of --filter confident.")
@click.option("--classifier-steps", default=300, show_default=True, type=int, help="Optimiser steps per classifier.")
@click.option("--device", default="cpu", show_default=True, help="Device for the GANs: cpu, cuda, cuda:N.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for results.csv, results.md, plot.png and per-cell GAN runs; re-running continues it.",
)
def augment(
    data,
    sizes,
    seeds,
    model,
    kimg,
    minutes,
    resolution,
    gan_augment,
    synthetic_per_class,
    synthetic_fraction,
    filter_,
    confidence,
    classifier_steps,
    device,
    out,
) -> None:
    """Does GAN-synthetic data help a classifier trained on a small labelled set? For each size and seed: a
    stratified training subset (the rest is the test set), a conditional GAN trained on that subset only, and the
    same small classifier trained on (a) real, (b) real + classic augmentation, (c) real + synthetic, (d) real +
    classic + synthetic, (e) synthetic only. Writes results.csv, results.md (mean ± 95% interval, paired
    differences c − a and d − b) and plot.png.

    \b
    Examples:
      ganforge experiment augment --data digits --per-class 5,10,20,50 --seeds 5 --out exp/digits
      ganforge experiment augment --data photos/ --per-class 5,10 --seeds 3 --resolution 32 --out exp/photos
    """
    from ..experiments.augment import AugmentSettings, run_augment_experiment

    settings = AugmentSettings(
        data=data,
        sizes=sizes,
        seeds=seeds,
        model=model,
        resolution=resolution,
        gan_kimg=kimg,
        minutes=minutes,
        gan_augment=gan_augment,
        synthetic_per_class=synthetic_per_class,
        synthetic_fraction=synthetic_fraction,
        filter=filter_,
        confidence=confidence,
        classifier_steps=classifier_steps,
    )
    folder = run_augment_experiment(settings, out, device=device, log=click.echo)
    click.echo(f"results: {folder / 'results.csv'}, {folder / 'results.md'}, {folder / 'plot.png'}")
    click.echo("\n".join(line for line in (folder / "results.md").read_text().splitlines() if line.startswith("|")))
