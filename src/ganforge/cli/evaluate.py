"""`ganforge eval`: score generated images (or an image-to-image model) against real data."""

from __future__ import annotations

import json

import click

from ..limits import EVAL_IMAGES
from . import main
from .options import MAX_SEED, output_path


class _MetricsOption(click.Option):
    """--metrics, whose help lists the metric registry (imported only when help is shown)."""

    def get_help_record(self, ctx: click.Context):
        from ..metrics.measures import metrics_help

        self.help = f"Comma list of metrics. {metrics_help()}."
        return super().get_help_record(ctx)


# metrics/protocols.py's PROTOCOLS, named here so that --help needs no torch import (a test checks they agree)
PROTOCOL_NAMES = ("ganforge", "clean", "legacy-tensorflow", "legacy-pytorch", "nvlabs")


@main.command("eval")
@click.option(
    "--real", help="Real data: a built-in dataset, NAME:PATH, a folder or a zip; for pix2pix, held-out pairs."
)
@click.option("--fake", type=click.Path(), help="A checkpoint, run folder, export, or folder of images.")
@click.option("--metrics", cls=_MetricsOption, default="fid,kid", show_default=True)
@click.option(
    "--extractor",
    help="inception, dinov2 (= dinov2-vitl14), dinov2-vitb14, digits, digits-per-channel "
    "(or a registered name); default: dinov2 when fd_dinov2 is asked for, digits-per-channel for "
    "stacked-digits, digits for digit data, else inception.",
)
@click.option(
    "--num",
    type=click.IntRange(*EVAL_IMAGES),
    help="Generated images (and at most this many real); default: the protocol's (nvlabs 50000), else 10000.",
)
@click.option(
    "--protocol",
    type=click.Choice(PROTOCOL_NAMES),
    default="ganforge",
    show_default=True,
    help="How images reach InceptionV3 and how many are compared: clean, legacy-tensorflow, legacy-pytorch "
    "(clean-fid's modes), nvlabs (NVIDIA's fid50k_full: 50k generated vs the full dataset), or ganforge "
    "(the weight file's own).",
)
@click.option(
    "--real-stats",
    type=click.Path(dir_okay=False),
    help="Reference statistics instead of --real (FID "
    "only): a `ganforge stats` file or clean-fid's precomputed .npz; protocol, resolution and extractor "
    "must match.",
)
@click.option("--mirror", is_flag=True, help="Also use mirrored real images, as training's --mirror does.")
@click.option("--batch", default=64, show_default=True, type=click.IntRange(1), help="Batch size.")
@click.option(
    "--resolution",
    type=click.IntRange(4),
    help="Compare at this size (default: the generator's, or the "
    "images' own size when both sets are folders of one size).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(0, MAX_SEED),
    help="First generator seed and real-subset seed.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option(
    "--pairs-png",
    type=click.Path(dir_okay=False),
    callback=output_path(),
    help="With memorization: PNG of the closest pairs.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    callback=output_path(),
    help="Also write the results as JSON here.",
)
@click.option(
    "--human",
    "human_run",
    type=click.Path(exists=True, file_okay=False),
    help="Instead: the fool rate of RUN_DIR/human_eval.jsonl (the studio's game) with a 95% interval.",
)
def evaluate_command(
    real,
    fake,
    metrics,
    extractor,
    num,
    protocol,
    real_stats,
    mirror,
    batch,
    resolution,
    seed,
    device,
    pairs_png,
    json_path,
    human_run,
) -> None:
    """Score generated images against real data: FID, KID, IS, precision/recall, density/coverage, MiFID,
    memorisation, and mode coverage on stacked-digits. A metric that cannot run (e.g. `is` with an extractor
    without logits) is named with its reason; the others are still computed.

    \b
    Examples:
      ganforge eval --real digits --fake runs/00000-demo --metrics fid,kid,is,pr --num 2000
      ganforge eval --real stacked-digits --fake runs/00003-stacked --metrics modes,fid --num 26000
      ganforge eval --real cat-pairs/holdout --fake runs/00004-cat-pairs-pix2pix-256 --metrics psnr,ssim,l1,fid
      ganforge eval --real digits-stylized --fake runs/00005-digits-stylized-cyclegan-32   # CycleGAN: its own table
      ganforge eval --real ~/dogs --fake samples/ --metrics mifid,memorization --extractor inception --pairs-png pairs.png
      ganforge eval --real ~/ffhq256.zip --fake runs/00006-ffhq --protocol nvlabs   # fid50k_full
      ganforge eval --real-stats cifar10_clean_train_32.npz --fake samples/ --protocol clean --metrics fid
      ganforge eval --human runs/00000-demo
    """
    if human_run:
        from ..studio.human_eval import fool_rate, read_judgements

        rate = fool_rate(read_judgements(human_run))
        click.echo(f"{human_run}: {rate}")
        if json_path:
            from ..atomic import write_text

            write_text(json_path, json.dumps(rate.to_dict(), indent=2) + "\n")
        return
    if not (real or real_stats) or not fake:
        raise click.UsageError("give --real (or --real-stats) and --fake (or --human RUN_DIR)")
    if real and real_stats:
        raise click.UsageError("give --real or --real-stats, not both")
    if pairs_png and not pairs_png.lower().endswith(".png"):
        raise click.BadParameter(
            f"{pairs_png}: the closest pairs are written as PNG; end the name in .png", param_hint="--pairs-png"
        )
    from ..atomic import check_not_input, write_text
    from ..dist import select_device
    from ..metrics import evaluate
    from ..metrics.report import format_table

    inputs = [real, real.partition(":")[2], fake] if real else [real_stats, fake]  # --real NAME:PATH reads PATH
    check_not_input([pairs_png], inputs, "--pairs-png")
    check_not_input([json_path], inputs, "--json")
    if pairs_png and "memor" not in metrics:
        metrics += ",memorization"
    results = evaluate(
        real,
        fake,
        metrics,
        extractor,
        num,
        batch,
        str(select_device(device)),
        seed,
        resolution,
        pairs_png,
        protocol=protocol,
        real_stats=real_stats,
        mirror=mirror,
    )
    click.echo(format_table(results))
    if json_path:
        write_text(json_path, json.dumps(results, indent=2) + "\n")
        click.echo(f"json: {json_path}")


@main.command("stats")
@click.argument("data")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    callback=output_path(),
    help="Write the statistics here (safetensors, with protocol, resolution and extractor recorded).",
)
@click.option(
    "--protocol",
    type=click.Choice(PROTOCOL_NAMES),
    default="ganforge",
    show_default=True,
    help="The evaluation protocol they are for (see `ganforge eval --help`).",
)
@click.option("--extractor", default="inception", show_default=True, help="Feature network.")
@click.option("--resolution", type=click.IntRange(4), help="Image side to load the data at (default: the data's).")
@click.option("--num", type=click.IntRange(*EVAL_IMAGES), help="Images to use (default: all).")
@click.option("--mirror", is_flag=True, help="Also use mirrored images, as training's --mirror does.")
@click.option("--batch", default=64, show_default=True, type=click.IntRange(1), help="Batch size.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
def stats_command(data, out, protocol, extractor, resolution, num, mirror, batch, device) -> None:
    """Reference statistics (feature mean and covariance) of real data, for `ganforge eval --real-stats FILE`.

    \b
    Examples:
      ganforge stats ~/ffhq256.zip --out ffhq256-nvlabs.safetensors --protocol nvlabs
      ganforge eval --real-stats ffhq256-nvlabs.safetensors --fake runs/00006-ffhq --protocol nvlabs
    """
    from ..atomic import check_not_input
    from ..dist import select_device
    from ..metrics.evaluate import compute_reference_stats
    from ..metrics.reference_stats import save

    check_not_input([out], [data, data.partition(":")[2]], "--out")
    reference = compute_reference_stats(
        data, protocol, extractor, resolution, num, batch, str(select_device(device)), mirror=mirror
    )
    save(out, reference)
    click.echo(
        f"{out}: {reference.stats.count} images of {data} at {reference.resolution} px, protocol {protocol}, "
        f"extractor {extractor}"
    )
