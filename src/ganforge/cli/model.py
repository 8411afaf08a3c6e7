"""`ganforge info` and `ganforge export`: describe and export a trained generator."""
from __future__ import annotations

import json

import click

from . import main
from .options import output_path

@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(checkpoint, as_json) -> None:
    """Describe a checkpoint or export: model, resolution, kimg, dataset, statistics and metrics.

    \b
    Example:
      ganforge info runs/00000-digits-dcgan-32/checkpoint-00000625.pt
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
@click.option("--out", required=True, type=click.Path(file_okay=False), callback=output_path(folder=True),
              help="Folder for config.json + generator.safetensors.")
def export(checkpoint, out) -> None:
    """Export the EMA generator as config.json + generator.safetensors (no pickles); load it with ganforge.load.

    \b
    Example:
      ganforge export runs/00000-digits-dcgan-32 --out exported/digits
    """
    from ..artifacts import export as export_generator

    folder = export_generator(checkpoint, out)
    click.echo(f"exported: {folder}/config.json, {folder}/generator.safetensors")

