"""`ganforge info`, `ganforge export` and `ganforge import`: describe, export and import a generator."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import main


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(checkpoint, as_json) -> None:
    """Describe a checkpoint or export: model, resolution, kimg, dataset, statistics and metrics; or another
    project's model file (an NVIDIA network pickle ...): format, architecture, resolution, classes, parameters and
    what is inside, read without building or running anything.

    \b
    Examples:
      ganforge info runs/00000-digits-dcgan-32/checkpoint-00000625.pt
      ganforge info stylegan2-ada-ffhq-256.pkl
    """
    from ..artifacts import describe

    details = describe(checkpoint)
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    for key, value in details.items():
        click.echo(f"{key:>14}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option(
    "--out",
    required=True,
    type=click.Path(),
    help="safetensors: a folder for config.json + generator.safetensors; onnx: a file ending in .onnx.",
)
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["safetensors", "onnx"]),
    default="safetensors",
    show_default=True,
    help="safetensors + JSON (loaded by ganforge) or one ONNX graph (opset 17, dynamic "
    "batch; needs the ganforge[onnx] extra).",
)
@click.option(
    "--quantize",
    type=click.Choice(["int8"]),
    default=None,
    help="onnx: an int8 graph (static quantization: int8 weights per channel, uint8 activations): 1.3-1.5x "
    "faster for pix2pix-size models on CPUs; prints its PSNR against the fp32 graph on held-out inputs.",
)
@click.option(
    "--calibrate",
    default=None,
    metavar="DATA",
    help="--quantize of an image-to-image model: inputs that set the activation ranges: a folder of the "
    "images you will translate, or the paired training data (A/ + B/ folders or a built-in name).",
)
@click.option(
    "--calibration-images",
    type=click.IntRange(1, 1024),
    default=64,
    show_default=True,
    help="--quantize: inputs (latents or images) used to calibrate.",
)
def export(checkpoint, out, export_format, quantize, calibrate, calibration_images) -> None:
    """Export the EMA generator as config.json + generator.safetensors (no pickles; load it with ganforge.load), or as
    an ONNX graph that onnxruntime runs (`ganforge sample/translate MODEL.onnx`).

    \b
    Examples:
      ganforge export runs/00000-digits-dcgan-32 --out exported/digits
      ganforge export runs/00002-shapes-edges-pix2pix-64 --format onnx --out edges.onnx
      ganforge export runs/00002-shapes-edges-pix2pix-64 --format onnx --quantize int8 --calibrate shapes-edges \\
          --out edges-int8.onnx
    """
    from ..artifacts import export as export_generator
    from ..atomic import check_not_input, check_writable
    from ..errors import ConfigError

    if export_format == "safetensors" and Path(out).expanduser().is_file():
        raise click.BadParameter(
            f"{out} is a file; the safetensors export is a folder (config.json + weights), "
            f"--format onnx writes one file",
            param_hint="--out",
        )
    try:  # before any work: a folder for safetensors, a file for ONNX, in a writable place
        check_writable(out, folder=export_format == "safetensors")
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--out") from None
    check_not_input([out], [checkpoint], "--out")
    if export_format != "onnx" and (quantize or calibrate):
        raise click.BadParameter("only for --format onnx", param_hint="--quantize/--calibrate")
    options = {"quantize": quantize, "calibrate": calibrate, "calibration_images": calibration_images}
    written = export_generator(checkpoint, out, format=export_format, **(options if export_format == "onnx" else {}))
    if export_format == "onnx":
        click.echo(f"exported: {written} (ONNX opset 17{', int8' if quantize else ''})")
    else:
        click.echo(f"exported: {written}/config.json, {written}/generator.safetensors")


@main.command("import")
@click.argument("source", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="A folder for config.json + generator.safetensors.")
@click.option(
    "--arch",
    default=None,
    help="The architecture to import as, where the file leaves a choice (default: read from the file).",
)
def import_(source, out, arch) -> None:
    """Import another project's model file as a normal ganforge export (safetensors + JSON): an NVIDIA
    stylegan2-ada-pytorch network pickle, a rosinality stylegan2-pytorch checkpoint, a pix2pix/CycleGAN generator
    (*_net_G.pth, *_net_G_A.pth), ... Pickles are read with an allow-list of names: nothing in the file runs.
    Every command that takes a model also accepts SOURCE directly.

    \b
    Example:
      ganforge import network-snapshot-000400.pkl --out exported/dogs
      ganforge sample exported/dogs --num 16 --out dogs.png
      ganforge import checkpoints/edges2shoes_pretrained/latest_net_G.pth --out exported/edges2shoes
    """
    from ..artifacts import import_model
    from ..atomic import check_writable
    from ..errors import ConfigError

    try:
        check_writable(out, folder=True)
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--out") from None
    written = import_model(source, out, arch)
    click.echo(f"imported: {written}/config.json, {written}/generator.safetensors")
