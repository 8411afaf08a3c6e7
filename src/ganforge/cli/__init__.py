"""The `ganforge` command: thin wrappers over the public API, one module per group of commands; each command's
--help ends with a runnable example. Only click is imported up front, so --help and flag errors are instant."""
from __future__ import annotations

import sys

import click

from ..errors import GanforgeError


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


from . import evaluate, latent, model, prepare, sample, studio, train, translate  # noqa: E402,F401  (register the commands)
