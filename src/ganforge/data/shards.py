"""Sharded data sets in the WebDataset layout: POSIX tar shards of `KEY.png` (+ `KEY.cls`, the class index), so that
`tar`, the `webdataset` package and any tar reader can open them, plus ganforge's index: `index.json` (every shard's
name, sample count, size and sha256; resolution, channels, class names) and per shard a `.idx` file with each
sample's byte offset, size and label, written when the shard is written.

The index lets a reader fetch any sample with one byte-range read (a local seek, an HTTP Range request, an object
store range GET), so the sample order is defined globally, independently of the number of ranks and loader workers:
per (seed, epoch), the shard order is a seeded permutation and each shard's samples pass through a seeded shuffle
buffer (as WebDataset's `shuffle(n)`); ranks take their slice of each global batch (data/sampler.py). The position
in that order is the number of images drawn so far, which the training loop already derives from its checkpointed
step, so a resume, at any world size, continues exactly where the run stopped. Nothing is cached: memory stays
bounded by a batch of samples whatever the data set's size.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..limits import load_json
from .base import DatasetInfo, ImageDataset
from .images import ImageDecodeError, load_image
from .remote import is_url, join, read_range
from .sampler import batch_indices

INDEX_NAME = "index.json"
FORMAT = "ganforge-shards"  # index.json's "format"
VERSION = 1
SHUFFLE_BUFFER = 1000  # samples in the within-shard shuffle buffer (a shard smaller than it is fully permuted)
RECORD = np.dtype([("offset", "<i8"), ("size", "<i8"), ("label", "<i8")])  # one sample in a .idx file
TAR_BLOCK = 512  # tar's header and padding unit


def padded(size: int, unit: int = TAR_BLOCK) -> int:
    """`size` rounded up to a multiple of `unit` (tar pads every member to 512-byte blocks)."""
    return -(-size // unit) * unit


def shard_name(number: int) -> str:
    return f"shard-{number:06d}.tar"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_shards(location: str) -> bool:
    """Whether --data names sharded data: a URL, or a folder holding index.json."""
    return is_url(location) or (Path(location).expanduser() / INDEX_NAME).is_file()


class ShardWriter:
    """Writes samples into tar shards of at most `shard_bytes` (a larger sample gets a shard of its own) in
    `folder`; `finish` writes index.json and returns it."""

    def __init__(self, folder: Path, shard_bytes: int):
        self.folder, self.shard_bytes = folder, shard_bytes  # folder: an empty folder to fill
        self.shards: list[dict] = []
        self.records: list[tuple[int, int, int]] = []  # of the open shard
        self.tar: tarfile.TarFile | None = None
        self.count = 0  # samples written, also the next key

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc) -> None:
        """Closes the open shard, also on error (the caller discards the folder then)."""
        if self.tar is not None:
            self.tar.close()

    def add(self, png: bytes, label: int | None) -> None:
        """Append one sample: `KEY.png` and, for labelled data, `KEY.cls` (the class index as text)."""
        members = [("png", png)] + ([("cls", str(label).encode())] if label is not None else [])
        size = sum(TAR_BLOCK + padded(len(data)) for _, data in members)
        if self.tar is None or (
            self.records  # the shard's size with this sample and tar's end of archive:
            and padded(self.tar.offset + size + 2 * TAR_BLOCK, tarfile.RECORDSIZE) > self.shard_bytes
        ):
            self._close_shard()
            self.tar = tarfile.open(self.folder / shard_name(len(self.shards)), "w", format=tarfile.USTAR_FORMAT)
        key = f"{self.count:09d}"
        for extension, data in members:
            member = tarfile.TarInfo(f"{key}.{extension}")
            member.size, member.mode, member.mtime = len(data), 0o644, 0  # fixed metadata: same data, same bytes
            self.tar.addfile(member, io.BytesIO(data))
            if extension == "png":  # the data ends at the (block-padded) end of the archive so far
                self.records.append((self.tar.offset - padded(len(data)), len(data), -1 if label is None else label))
        self.count += 1

    def _close_shard(self) -> None:
        if self.tar is None:
            return
        self.tar.close()
        path = Path(self.tar.name)
        index_path = path.with_suffix(".idx")
        index_path.write_bytes(np.array(self.records, dtype=RECORD).tobytes())
        self.shards.append(
            {
                "name": path.name,
                "samples": len(self.records),
                "bytes": path.stat().st_size,
                "sha256": sha256_of(path),
                "index": index_path.name,
                "index_sha256": sha256_of(index_path),
            }
        )
        self.tar, self.records = None, []

    def finish(self, resolution: int, channels: int, class_names: tuple[str, ...]) -> dict:
        """Close the last shard and write index.json (last, so a folder with an index is complete)."""
        self._close_shard()
        index = {
            "format": FORMAT,
            "version": VERSION,
            "resolution": resolution,
            "channels": channels,
            "class_names": list(class_names),
            "samples": self.count,
            "shards": self.shards,
        }
        (self.folder / INDEX_NAME).write_text(json.dumps(index, indent=1) + "\n")
        return index


def buffer_shuffle(count: int, buffer: int, rng: np.random.Generator) -> np.ndarray:
    """The order in which a shuffle buffer of `buffer` samples, fed items 0..count-1 in turn, emits them: once full,
    each new item enters and a random one leaves; the rest leave in random order at the end."""
    order, pool = np.empty(count, dtype=np.int64), []
    draws = rng.random(count)
    emitted = 0
    for item in range(count):
        pool.append(item)
        if len(pool) >= buffer:
            pick = int(draws[emitted] * len(pool))
            order[emitted], pool[pick] = pool[pick], pool[-1]
            pool.pop()
            emitted += 1
    order[emitted:] = rng.permutation(np.array(pool, dtype=np.int64))
    return order


class ShardDataset(ImageDataset):
    """Sharded data read from a folder or URL prefix holding index.json; samples are fetched by byte range."""

    def __init__(
        self,
        location: str,
        resolution: int | None = None,
        channels: int | None = None,
        shuffle_buffer: int = SHUFFLE_BUFFER,
        flag: str = "--data",
    ):
        self.location, self.flag, self.shuffle_buffer = str(location).rstrip("/") or "/", flag, shuffle_buffer
        where = join(self.location, INDEX_NAME)
        index = load_json(read_range(where, flag=flag), f"{flag} {where}", DataError)
        if not isinstance(index, dict) or index.get("format") != FORMAT or index.get("version") != VERSION:
            raise DataError(
                f"{flag} {where}: not a ganforge shard index (format {FORMAT!r}, version {VERSION}); "
                f"write one with `ganforge prepare SRC --out DIR --format shards`"
            )
        try:
            self.shards = [
                (str(s["name"]), int(s["samples"]), str(s["index"]), str(s["index_sha256"])) for s in index["shards"]
            ]
            stored = (int(index["resolution"]), int(index["channels"]), tuple(map(str, index["class_names"])))
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"{flag} {where}: malformed index ({error!r} missing or wrong)") from None
        if any(Path(name).name != name or Path(idx).name != idx for name, _, idx, _ in self.shards):
            raise DataError(f"{flag} {where}: shard names must be plain file names beside the index")
        counts = np.array([samples for _, samples, _, _ in self.shards], dtype=np.int64)
        if len(counts) == 0 or counts.min() < 1 or counts.sum() != index.get("samples"):
            raise DataError(
                f"{flag} {where}: the shards' sample counts ({int(counts.sum())}) do not add up to "
                f'"samples" ({index.get("samples")}), or a shard is empty'
            )
        self.starts = np.concatenate([[0], np.cumsum(counts)])  # global index of each shard's first sample
        self.info = DatasetInfo(str(location), resolution or stored[0], channels or stored[1], stored[2])
        self._records: dict[int, np.ndarray] = {}  # shard number -> its .idx, read on first use (per process)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def records(self, shard: int) -> np.ndarray:
        """The (offset, size, label) of every sample in `shard`, checked against its sha256 in index.json."""
        if shard not in self._records:
            name, samples, idx, digest = self.shards[shard]
            where = join(self.location, idx)
            data = read_range(where, flag=self.flag, most=samples * RECORD.itemsize)
            if hashlib.sha256(data).hexdigest() != digest or len(data) != samples * RECORD.itemsize:
                raise DataError(
                    f"{self.flag} {where}: does not match its sha256 or sample count in {INDEX_NAME}; "
                    f"re-run `ganforge prepare --format shards`"
                )
            self._records[shard] = np.frombuffer(data, dtype=RECORD)
        return self._records[shard]

    def epoch_order(self, seed: int, epoch: int) -> torch.Tensor:
        """Global sample indices of `epoch`: shards in a seeded order, each through a seeded shuffle buffer."""
        shard_order = np.random.default_rng([seed, epoch]).permutation(len(self.shards))
        parts = [
            self.starts[shard]
            + buffer_shuffle(
                self.shards[shard][1], self.shuffle_buffer, np.random.default_rng([seed, epoch, int(shard)])
            )
            for shard in shard_order
        ]
        return torch.from_numpy(np.concatenate(parts))

    def index_batches(self, global_batch: int, seed: int, start_batch: int, rank: int = 0, world: int = 1):
        """This rank's endless index batches in the shard order (see data/sampler.py's `batches`)."""
        return batch_indices(len(self), global_batch, seed, start_batch, rank, world, self.epoch_order)

    def image(self, index: int) -> tuple[torch.Tensor, int]:
        shard = int(np.searchsorted(self.starts, index, side="right")) - 1
        offset, size, label = (int(v) for v in self.records(shard)[index - self.starts[shard]])
        name = self.shards[shard][0]
        # the member's tar header comes too, to check that the index points at the sample it claims
        data = read_range(join(self.location, name), offset - TAR_BLOCK, size + TAR_BLOCK, self.flag)
        try:
            header = tarfile.TarInfo.frombuf(data[:TAR_BLOCK], "utf-8", "surrogateescape")
        except tarfile.HeaderError:
            header = None
        if header is None or not header.name.endswith(".png") or header.size != size:
            raise DataError(
                f"{self.flag} {join(self.location, name)}: no PNG member of {size} bytes at offset "
                f"{offset}; the shard does not match its index (re-run `ganforge prepare`)"
            )
        try:
            array = load_image(data[TAR_BLOCK:], self.info.resolution, self.info.channels, f"{name}:{header.name}")
        except ImageDecodeError as error:
            raise DataError(f"{self.flag} {self.location}: {error}") from None
        return torch.from_numpy(array).permute(2, 0, 1).contiguous(), max(label, 0)
