"""`ganforge studio`: the browser app and HTTP API over run folders, checkpoints and exports; `ganforge serve`:
the same HTTP API without the pages."""

from __future__ import annotations

import os

import click

from . import main

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def default_threads() -> int:
    """Torch threads per computation: half this machine's usable cores, 1 to 4 (two computations may run at once;
    more threads than cores makes a busy box slower, not faster)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2
    return max(1, min(4, cores // 2))


def _options(function):
    for decorator in reversed(
        [
            click.argument("sources", nargs=-1, type=click.Path(exists=True)),
            click.option(
                "--runs",
                "runs_dir",
                default="runs",
                show_default=True,
                type=click.Path(file_okay=False),
                help="Folder of run directories: listed, and where runs started from the studio go.",
            ),
            click.option(
                "--host",
                default="127.0.0.1",
                show_default=True,
                help="Address to listen on. Only this machine can connect by default; another address (e.g. "
                "0.0.0.0) exposes the studio, with no login, to everyone who can reach it.",
            ),
            click.option("--port", default=7860, show_default=True, type=click.IntRange(0, 65535), help="TCP port."),
            click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or mps."),
            click.option(
                "--cache",
                "cache_size",
                default=4,
                show_default=True,
                type=click.IntRange(1),
                help="Models kept loaded at once.",
            ),
            click.option(
                "--backend",
                type=click.Choice(["torch", "onnxruntime"]),
                default="torch",
                show_default=True,
                help="What runs generate, translate and the game's images: PyTorch, or onnxruntime (CPU; "
                "2-4x faster there, needs ganforge[onnx]). Projection and editing always use PyTorch.",
            ),
            click.option(
                "--threads",
                type=click.IntRange(1, 256),
                default=None,
                help="Torch threads per computation (at most two computations run at once); default: half the "
                "cores, 1 to 4.",
            ),
            click.option(
                "--allowed-host",
                "allowed_hosts",
                multiple=True,
                metavar="NAME",
                help="Also answer requests whose Host header is NAME (the studio's address as others type it, "
                "e.g. behind a proxy); repeatable; '*' turns the Host check off. Default: the --host "
                "address (127.0.0.1: also localhost and ::1).",
            ),
            click.option(
                "--data-root",
                "data_roots",
                multiple=True,
                type=click.Path(exists=True, file_okay=False),
                help="A folder whose sub-folders and zips training runs started from the page may read "
                "(repeatable); without it: built-in sets and the --runs folder only.",
            ),
        ]
    ):
        function = decorator(function)
    return function


def _serve(
    sources, runs_dir, host, port, device, cache_size, backend, threads, allowed_hosts, data_roots, pages: bool
) -> None:
    try:
        import uvicorn

        from ..studio.app import create_app
    except ImportError as error:
        raise click.ClickException(f"the studio needs its extra: pip install 'ganforge[studio]' ({error})") from None
    from ..studio.errors import StudioError
    from ..studio.guard import bound_names

    if host not in LOCAL_HOSTS:
        click.echo(
            f"warning: listening on {host}: anyone who can reach this address can use the studio "
            f"(no login), including starting training runs",
            err=True,
        )
    names = bound_names(host, allowed_hosts)
    try:
        if backend == "onnxruntime":
            from ..artifacts.onnx import require

            require("onnxruntime")
        app = create_app(
            list(sources),
            runs_dir,
            pages=pages,
            cache_size=cache_size,
            device=device,
            backend=backend,
            data_roots=list(data_roots),
            allowed_hosts=names,
            threads=threads or default_threads(),
        )
    except StudioError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"ganforge {'studio' if pages else 'API'}: http://{host}:{port}/ (API docs: /docs); Ctrl+C stops it")
    if host not in LOCAL_HOSTS:
        click.echo(f"answering Host names: {', '.join(names)} (add others with --allowed-host)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@main.command()
@_options
def studio(sources, runs_dir, host, port, device, cache_size, backend, threads, allowed_hosts, data_roots) -> None:
    """Open the browser studio: generate and explore, sketch-to-image, "which is real?", live training,
    project and edit. Serves on 127.0.0.1 only unless --host says otherwise.

    \b
    Examples:
      ganforge studio --runs runs/
      ganforge studio runs/00000-demo runs/00004-cat-pairs-pix2pix-256/checkpoint-00000010.pt --port 8000
      ganforge studio --runs runs/ --data-root ~/datasets --threads 2
    """
    _serve(sources, runs_dir, host, port, device, cache_size, backend, threads, allowed_hosts, data_roots, pages=True)


@main.command()
@_options
def serve(sources, runs_dir, host, port, device, cache_size, backend, threads, allowed_hosts, data_roots) -> None:
    """Serve the studio's HTTP API only (no pages): /api/generate, /api/translate, ...; docs at /docs.

    \b
    Example:
      ganforge serve runs/00000-demo --port 8000 &
      curl 'http://127.0.0.1:8000/api/generate?model=00000-demo&seed=3' -o seed3.png
    """
    _serve(sources, runs_dir, host, port, device, cache_size, backend, threads, allowed_hosts, data_roots, pages=False)
