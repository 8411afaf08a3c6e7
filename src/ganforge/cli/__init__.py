"""The `ganforge` command: thin wrappers over the public API, one module per group of commands; each command's
--help ends with a runnable example. Only click is imported up front, so --help and flag errors are instant."""

from __future__ import annotations

import errno
import sys
import warnings

import click

from ..errors import GanforgeError


def _fail(error: Exception) -> None:
    click.echo(f"error: {error}", err=True)
    sys.exit(1)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as `warning: ...` on stderr, without the source line that Python prints by default."""
    click.echo(f"warning: {message}", err=True)


class _Group(click.Group):
    def invoke(self, ctx):
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except GanforgeError as error:
                _fail(error)
            except OSError as error:  # a file that cannot be read or written: name it, no traceback
                _fail(_os_error_line(error))


def _os_error_line(error: OSError) -> str:
    """One line for a failed read or write: what went wrong, and the file."""
    if error.errno == errno.ENOSPC and error.filename:
        return f"no space left on device writing {error.filename}"
    if error.errno == errno.EROFS and error.filename:
        return f"read-only file system: cannot write {error.filename}"
    return f"{error.strerror}: {error.filename}" if error.filename and error.strerror else str(error)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="ganforge")
@click.option(
    "--threads",
    type=click.IntRange(1),
    help="CPU threads PyTorch may use (torch.set_num_threads); default: "
    "PyTorch's, one per core. On a machine busy with other work, 1 or 2 is often much faster.",
)
def main(threads: int | None) -> None:
    """ganforge: train, sample and export GANs on your own images.

    \b
    Example:
      ganforge train --data digits --model dcgan --resolution 32 --kimg 40 --out runs/
      ganforge --threads 1 train --data shapes-edges --model pix2pix --resolution 64 --kimg 6
    """
    if threads:
        import torch

        torch.set_num_threads(threads)


from . import evaluate, latent, model, prepare, sample, studio, synth, train, translate  # noqa: E402,F401  (register the commands)
