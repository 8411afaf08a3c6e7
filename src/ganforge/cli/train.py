"""`ganforge train`: every training flag, resolved into one config, then the one training loop."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

import click

from ..errors import GanforgeError
from . import main

_CLICK_TYPES = {"int": int, "float": float, "str": str}


def _registered(key: str) -> str:
    """The names a setting accepts, as config.py lists them for the registries (tests check the two agree), so that
    `--help` needs neither torch nor the registries themselves."""
    from ..config import DATASET_NAMES, MODEL_NAMES

    if key == "model.name":
        return f"Registered: {', '.join(MODEL_NAMES)}."
    return f"Dataset names: {', '.join(DATASET_NAMES)}, and digits-stylized (unpaired, for --model cyclegan)."


class _RegistryOption(click.Option):
    """An option whose help ends with the registry listing of `registry_key`."""

    def __init__(self, *args, registry_key: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.registry_key, self.base_help = registry_key, kwargs.get("help", "")

    def get_help_record(self, ctx: click.Context):
        self.help = f"{self.base_help} {_registered(self.registry_key)}"
        return super().get_help_record(ctx)


LISTED = ("data.source", "model.name")  # settings whose help lists a registry


def _train_options(function):
    """One click option per config setting, from its declaration (flag, type, help) in config.py; bools get a
    --no- form; every option defaults to None, meaning "not given" (the preset, config file or default decides)."""
    from ..config import settings

    for key, item in reversed(list(settings())):
        name, base = key.replace(".", "__"), item.type.partition(" | ")[0]
        flag, text = item.metadata["flag"], item.metadata["help"]
        if base == "bool":
            option = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=text)
        elif base == "tuple[float, float]":
            option = click.option(flag, name, type=float, nargs=2, default=None, help=text)
        elif key in LISTED:
            option = click.option(flag, name, type=str, default=None, help=text, cls=_RegistryOption, registry_key=key)
        else:
            option = click.option(flag, name, type=_CLICK_TYPES[base], default=None, help=text)
        function = option(function)
    return function


class _StopRequest:
    """Which signal (if any) asked training to stop; the command then exits 128 + its number, as a shell reports a
    process ended by that signal (143 for SIGTERM, 130 for SIGINT), so schedulers see that the run did not finish."""

    def __init__(self):
        self.event, self.signum = threading.Event(), None

    def __call__(self) -> bool:
        return self.event.is_set()

    @property
    def exit_code(self) -> int:
        return 0 if self.signum is None else 128 + self.signum


@contextlib.contextmanager
def _stop_on_signals():
    """While training: the first SIGINT (Ctrl-C) or SIGTERM asks the loop to stop cleanly after the current step,
    with final samples and a checkpoint; a second SIGINT interrupts at once."""
    requested = _StopRequest()

    def ask_to_stop(signum, frame):
        if requested() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        requested.event.set()
        requested.signum = requested.signum or signum
        click.echo(
            f"\n{signal.Signals(signum).name}: stopping after this step with a final snapshot (Ctrl-C again to abort)",
            err=True,
        )

    previous = {sig: signal.signal(sig, ask_to_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@main.command()
@_train_options
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="JSON config file (flags override it).")
@click.option(
    "--preset",
    help="Named settings applied first: stylegan2-32, stylegan2-64, stylegan2-256, "
    "stylegan2-1024, r3gan-32-cpu, r3gan-32, r3gan-64 or r3gan-256 (preset tables: docs/train.md).",
)
@click.option("--resume", help="auto (newest run under --out), a run folder, or a checkpoint file.")
@click.option("--dry-run", is_flag=True, help="Resolve and save the config, then stop.")
@click.option(
    "--no-progress", is_flag=True, help="No progress bar (stats.jsonl and TensorBoard logs are still written)."
)
@click.option("--no-tensorboard", is_flag=True, help="Write no TensorBoard event files (stats.jsonl stays).")
def train(config_file, preset, resume, dry_run, no_progress, no_tensorboard, **flags) -> None:
    """Train a GAN; writes samples, checkpoints, stats.jsonl and TensorBoard logs into a new run folder.

    SIGTERM or Ctrl-C stops after the current step with final samples and a checkpoint, then exits 143 (SIGTERM) or
    130 (Ctrl-C), as a process ended by that signal would; --resume auto continues from there.

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
    from ..training import train as run_training

    overrides = {key.replace("__", "."): value for key, value in flags.items() if value not in (None, ())}
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    try:
        with _stop_on_signals() as stop_requested:
            result = run_training(
                overrides=overrides,
                config_file=config_file,
                preset=preset,
                resume=resume,
                dry_run=dry_run,
                progress=not no_progress,
                tensorboard=not no_tensorboard,
                should_stop=stop_requested,
            )
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
        os._exit(stop_requested.exit_code)
    if stop_requested.exit_code:
        sys.exit(stop_requested.exit_code)
