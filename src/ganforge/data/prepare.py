"""`ganforge prepare`: convert a folder or zip of images into a clean training zip (PNG at one resolution +
dataset.json with labels) or a folder of tar shards (data/shards.py), reporting every skipped file with its reason.
Two `prepare` writing the same output at once: the second is refused (a lock file beside the output while it is
written)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_folder, atomic_open
from ..errors import ConfigError, DataError
from ..filelock import exclusive_lock
from ..imaging import encode_png
from ..limits import SHARD_BYTES, check
from ..parallel import map_files
from .folder import ImageSource, detect_channels, labels_for
from .images import ImageDecodeError, load_image, min_side
from .shards import ShardWriter

FORMATS = ("zip", "shards")  # prepare --format
DEFAULT_SHARD_BYTES = 10**9  # prepare --shard-size: 1 GB, within the 100 MB..few-GB range WebDataset recommends


@dataclass
class PrepareReport:
    out: Path  # the zip written
    converted: int  # images in it
    resolution: int
    channels: int
    class_names: tuple[str, ...]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (file, reason, detail)


def _convert(job: tuple[ImageSource, str, int, int, int]) -> tuple[str, bytes | None, str, str]:
    source, name, resolution, channels, min_size = job
    try:
        array = load_image(source.read(name), resolution, channels, name, min_size=min_size)
    except ImageDecodeError as error:
        return name, None, error.reason, error.detail
    except OSError as error:
        return name, None, "unreadable", f"{name}: {error}"
    return name, encode_png(array), "", ""


def prepare_dataset(
    src: str | Path,
    out: str | Path,
    resolution: int = 64,
    channels: int | None = None,
    min_size: int | None = None,
    strict: bool = False,
    workers: int | None = None,
    format: str = "zip",
    shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> PrepareReport:
    """Convert every readable image of `src` to `resolution`; skip (or with `strict`, stop at) bad files.

    `min_size`: images whose shorter side is below it are skipped as too small (default: resolution / 4).
    `format`: "zip" (one zip of PNGs + dataset.json) or "shards" (a folder of WebDataset tar shards of at most
    `shard_bytes` each + index.json: see data/shards.py).
    """
    if resolution < 4 or resolution & (resolution - 1):
        raise DataError(f"--resolution {resolution}: must be a power of two >= 4")
    if channels not in (None, 1, 3):
        raise ConfigError(f"--channels {channels}: must be 1 (grayscale) or 3 (RGB)")
    if format not in FORMATS:
        raise ConfigError(f"--format {format}: must be one of {', '.join(FORMATS)}")
    check(shard_bytes, SHARD_BYTES, "--shard-size")
    source = ImageSource(src)
    out = Path(out).expanduser()
    if out.resolve() == source.path.resolve():
        raise DataError(f"--out {out} would overwrite the source")
    if format == "shards" and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"--out {out}: exists and is not an empty folder; remove it or choose another --out")
    skipped = []
    if not source.is_zip:  # files whose extension is not an image's are reported too
        skipped += source.non_images()
    if not source.names:
        raise DataError(f"{source.path}: no images found (png/jpg/jpeg/webp/bmp)")
    labels, class_names = labels_for(source)
    channels = channels or detect_channels(source)
    min_size = min_side(resolution) if min_size is None else min_size
    # shards get the images in a seeded random order, so that each shard (read in turn) is a sample of every class
    names = (
        source.names
        if format == "zip"
        else [source.names[i] for i in np.random.default_rng(0).permutation(len(source.names))]
    )
    jobs = [(source, name, resolution, channels, min_size) for name in names]
    label_of = dict(zip(source.names, labels))
    out.parent.mkdir(parents=True, exist_ok=True)
    busy = f"--out {out} is being written by {{}} (another `ganforge prepare`); wait for it or choose another --out"
    with exclusive_lock(out.with_name(f".{out.name}.lock"), busy.format):
        with _sink(format, out, shard_bytes) as sink:
            for name, png, reason, detail in map_files(_convert, jobs, workers, chunksize=16):
                if png is None:
                    if strict:
                        raise DataError(f"--strict: {detail}")
                    skipped.append((name, reason, detail))
                    continue
                sink.add(name, png, label_of[name] if class_names else None)
            if not sink.count:
                raise DataError(
                    f"{source.path}: none of the {len(source.names)} image files could be converted; "
                    f"first problem: {skipped[0][2] if skipped else 'unknown'}"
                )
            sink.finish(resolution, channels, class_names)
    return PrepareReport(out, sink.count, resolution, channels, class_names, skipped)


class _ZipSink:
    """Fills a zip: images/NNNNNNNN.png + dataset.json with labels and original file names."""

    def __init__(self, archive: zipfile.ZipFile):
        self.archive, self.labels, self.originals = archive, {}, {}

    @property
    def count(self) -> int:
        return len(self.originals)

    def add(self, name: str, png: bytes, label: int | None) -> None:
        member = f"images/{self.count:08d}.png"
        self.archive.writestr(member, png)
        self.originals[member], self.labels[member] = name, label

    def finish(self, resolution: int, channels: int, class_names: tuple[str, ...]) -> None:
        meta = {
            "resolution": resolution,
            "channels": channels,
            "class_names": list(class_names),
            "labels": self.labels if class_names else None,
            "sources": self.originals,
        }
        self.archive.writestr("dataset.json", json.dumps(meta, indent=1))


class _ShardSink(ShardWriter):
    """Fills a folder of tar shards (the original file names are not kept)."""

    def add(self, name: str, png: bytes, label: int | None) -> None:
        super().add(png, label)


@contextmanager
def _sink(format: str, out: Path, shard_bytes: int) -> Iterator[_ZipSink | _ShardSink]:
    """The writer of `format`; the output appears at `out` whole, only when the block completes."""
    if format == "zip":
        with atomic_open(out) as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
            yield _ZipSink(archive)
    else:
        with atomic_folder(out) as folder, _ShardSink(folder, shard_bytes) as writer:
            yield writer
