"""Option parsing shared by commands: seed lists (bounded), class choices, truncation, and output paths checked
before any work."""

from __future__ import annotations

import re

import click

from ..atomic import check_writable
from ..errors import ConfigError
from ..limits import SEED, TRUNCATION

MAX_SEED = SEED.high  # seeds are 0 .. 2^32 - 1, as in NVlabs' tools
MAX_SEEDS = 10_000  # entries a --seeds/--rows/--cols list may expand to
MAX_IMAGES = 10_000  # --num of `sample`
MAX_FRAMES = 2_000  # --frames of `interpolate` (100 s at 20 fps)


def parse_classes(ctx, param, text: str | None) -> str | int | list[str | int] | None:
    """--class: a class name or index, or a comma list of them (one per image); indices become ints and names stay
    strings, resolved against the model's classes by `LoadedGenerator.labels_for`."""
    if text is None:
        return None
    values = [part.strip() for part in text.split(",")]
    if not all(values):
        raise click.BadParameter(f"{text!r}: give a class name or index, or a comma list with one per image")
    values = [int(v) if v.lstrip("-").isdigit() else v for v in values]
    return values[0] if len(values) == 1 else values


def one_class(ctx, param, text: str | None) -> str | int | None:
    """--class for commands whose images share one class (mix, interpolate): a name or an index."""
    value = parse_classes(ctx, param, text)
    if isinstance(value, list):
        raise click.BadParameter(
            f"{text!r}: give one class (a name or an index); all images of `{ctx.command.name}` share it"
        )
    return value


def seed_list(ctx, param, text: str | None) -> list[int] | None:
    """'1,2,3' or ranges like '0-4' (inclusive) -> [1, 2, 3]; at most MAX_SEEDS seeds, counted before expanding."""
    if text is None:
        return None
    ranges = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or (last and not last.isdigit()) or (last and int(last) < int(first)):
            raise click.BadParameter(
                f"{text!r}: give seeds (integers >= 0) as a comma list like 1,2,3 or a range like 0-4"
            )
        ranges.append((int(first), int(last or first)))
    if max(last for _, last in ranges) > MAX_SEED:
        raise click.BadParameter(f"{text!r}: seeds go up to {MAX_SEED}")
    count = sum(last - first + 1 for first, last in ranges)
    if count > MAX_SEEDS:
        raise click.BadParameter(f"{text!r} names {count} seeds; at most {MAX_SEEDS}")
    return [seed for first, last in ranges for seed in range(first, last + 1)]


SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_size(text: str, flag: str) -> int:
    """Bytes in a size such as 1GB, 500MB, 1.5GiB or 4096 (decimal units, binary with i); ConfigError naming `flag`."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in SIZE_UNITS:
        raise ConfigError(f"{flag} {text}: not a size; give a number with a unit, e.g. 1GB, 500MB or 2GiB")
    return int(float(match.group(1)) * SIZE_UNITS[unit])


def output_path(folder: bool = False):
    """Callback for an output option or argument: refused before any work when it names something of the wrong
    kind or a place that cannot be written (see `atomic.check_writable`)."""

    def check(ctx, param, value):
        if value is not None:
            try:
                check_writable(value, folder=folder)
            except ConfigError as error:
                raise click.BadParameter(str(error)) from None
        return value

    return check


TRUNCATION_HELP = (
    f"Truncation psi in {TRUNCATION.low:g}..{TRUNCATION.high:g}: 1 samples plainly, lower trades variety for typicality (StyleGAN: w "
    "toward its average; DCGAN: z scaled by psi), 0 gives one image for all seeds, above 1 "
    "exaggerates."
)
CLASS_HELP = "Class name or index for conditional models (default: the first class)."
BACKEND_CHOICES = ["torch", "onnxruntime"]
BACKEND_HELP = (
    "Run the generator in PyTorch or in onnxruntime (CPU; the ganforge[onnx] extra; a checkpoint is "
    "converted in memory). Default: onnxruntime for .onnx files, else torch."
)
