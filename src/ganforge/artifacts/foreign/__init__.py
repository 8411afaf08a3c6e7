"""Models trained by other projects, read safely: one reader per file format, chosen by sniffing the file.

A reader turns a file into a `ForeignModel`: everything ganforge's loader needs (model config, dataset info, number
of classes, a state dict for a registered model family), plus the discriminator and training state where the file
has them (for `ganforge train --init`). `describe` says what a file holds without building any network.
Adding a format is one reader module (a `Reader`) and one line in `READERS`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError
from ...families import Task


@dataclass
class ForeignModel:
    """A foreign file's networks as ganforge sees them. `model` + `dataset` + `num_classes` are what an export's
    config.json holds; `generator` loads into `models.build_generator(model, dataset, num_classes)` unchanged."""

    format: str  # the reader's name, e.g. "nvidia-pickle"
    architecture: str  # what the file's network is, in the source's terms (e.g. "StyleGAN2-ADA skip")
    model: dict[str, Any]  # ModelConfig fields (name = a registered model family; arch_kwargs as JSON)
    dataset: dict[str, Any]  # DatasetInfo.to_dict(): name, resolution, channels, class_names ...
    num_classes: int  # > 0 for class-conditional networks
    # State dicts (ganforge names). A reader may give mappings that read each tensor from the file when looked up
    # (unpickle.StateDict), so that a network costs memory only when it is loaded into a module.
    generator: Mapping[str, torch.Tensor]  # the (EMA) generator's state dict
    discriminator: Mapping[str, torch.Tensor] | None = None  # D's state dict, where the file has one
    generator_raw: Mapping[str, torch.Tensor] | None = None  # the non-EMA G, where the file has one beside G_ema
    augment_p: float | None = None  # ADA's augmentation probability, where stored
    kimg: float = 0.0  # training progress, where known
    contents: dict[str, str] = field(default_factory=dict)  # what is inside, for `info`: "G_ema" -> "Generator"


@dataclass(frozen=True)
class Reader:
    """One foreign format. `sniff` looks at the first bytes only; `describe` and `read` get the whole file;
    `arch` is the user's `--arch` choice (None: inferred from the file), for formats where that is ambiguous."""

    name: str  # e.g. "nvidia-pickle", "rosinality", "pix2pix"
    sniff: Callable[[Path, bytes], bool]  # (path, first HEAD_BYTES bytes) -> is it this format?
    describe: Callable[[Path], dict[str, Any]]  # path -> what `ganforge info` prints, no networks built
    read: Callable[[Path, str | None], ForeignModel]  # (path, arch) -> the model
    task: Task = Task.NOISE_TO_IMAGE  # the kind of model it holds (Task.PAIRED: `translate`, the Sketch page)


HEAD_BYTES = 64  # bytes `sniff` gets


def _readers() -> list[Reader]:
    from . import nvidia, pix2pix, r3gan, rosinality  # noqa: PLC0415 (readers import models; imported when a foreign file is opened)

    return [r3gan.READER, nvidia.READER, pix2pix.READER, rosinality.READER]  # r3gan's sniff is narrower than nvidia's


def is_foreign(path: str | Path) -> bool:
    """True for a file (not a ganforge export folder or checkpoint) that one of the readers recognises."""
    path = Path(path).expanduser()
    return path.is_file() and _match(path) is not None


def _head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(HEAD_BYTES)


def _match(path: Path) -> Reader | None:
    head = _head(path)
    return next((reader for reader in _readers() if reader.sniff(path, head)), None)


def reader_for(path: str | Path) -> Reader:
    """The reader of a file; a CheckpointError naming the file and what it looks like when none fits."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder without a ganforge export (generator.safetensors) in it")
    reader = _match(path)
    if reader is None:
        raise CheckpointError(
            f"{path}: {looks_like(path)}; not a format ganforge reads (ganforge checkpoints and "
            f"exports, {', '.join(r.name for r in _readers())})"
        )
    return reader


def read(path: str | Path, arch: str | None = None) -> ForeignModel:
    """A foreign file as a `ForeignModel` (see `Reader.read`)."""
    path = Path(path).expanduser()
    return reader_for(path).read(path, arch)


def describe(path: str | Path) -> dict[str, Any]:
    """What `ganforge info` prints for a foreign file: format, architecture, resolution, classes, parameters,
    contents; no network is built."""
    path = Path(path).expanduser()
    reader = reader_for(path)
    return {"source": str(path), "format": reader.name, **reader.describe(path)}


def architecture(path: str | Path) -> str:
    """The architecture a foreign file holds, in its reader's words (from `describe`: nothing is built, no weights are
    read), remembered per file version; the reader's name where the file cannot be described."""
    path = Path(path).expanduser()
    stat = path.stat()
    return _architecture(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _architecture(path: Path, mtime_ns: int, size: int) -> str:
    reader = reader_for(path)
    try:
        return str(reader.describe(path).get("architecture") or reader.name)
    except CheckpointError:
        return reader.name


def looks_like(path: Path) -> str:
    """A short description of an unrecognised file from its first bytes."""
    head = _head(path)
    if not head:
        return "the file is empty (0 bytes)"
    kinds = [
        (b"PK\x03\x04", "a zip archive (torch.save's format?) of an unknown layout"),
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8", "a JPEG image"),
        (b"\x80", "a Python pickle of an unknown layout"),
        (b"{", "JSON or text"),
        (b"\x89HDF", "an HDF5 file (Keras?)"),
    ]
    for magic, kind in kinds:
        if head.startswith(magic):
            return f"looks like {kind}"
    return f"unrecognised contents (first bytes {head[:8].hex()})"
