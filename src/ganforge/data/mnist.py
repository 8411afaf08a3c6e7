"""MNIST (LeCun et al.): IDX-format parser and checksum-verified download into the ganforge cache."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..download import cache_dir, fetch
from ..errors import DataError
from .base import DatasetInfo, TensorImageDataset

MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
FILES_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped): magic 0x0000TTDD, D big-endian int32 sizes, then the data."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DataError(f"{path}: corrupt gzip data: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dims = raw[3]
    header = 4 + 4 * dims
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">i4", count=dims, offset=4))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: IDX data has {len(raw) - header} bytes, shape {shape} needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def mnist_files(split: str = "train", root: Path | None = None, urls: tuple[str, ...] = MIRRORS) -> tuple[Path, Path]:
    """Paths of the (images, labels) IDX files of a split, downloaded and verified if missing."""
    prefix = {"train": "train", "test": "t10k"}[split]
    root = root or Path(os.environ.get("GANFORGE_MNIST", cache_dir("mnist")))
    paths = []
    for kind in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"):
        name = f"{prefix}-{kind}"
        paths.append(fetch([url + name for url in urls], root / name, FILES_MD5[name], algorithm="md5"))
    return paths[0], paths[1]


def mnist(
    resolution: int | None, split: str = "train", root: Path | None = None, name: str = "mnist"
) -> TensorImageDataset:
    """MNIST digits as uint8 [N, 1, R, R] (28x28 resized to R, default 32) with labels 0-9."""
    resolution = resolution or 32
    image_path, label_path = mnist_files(split, root)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or labels.shape != (len(images),):
        raise DataError(f"{image_path}: expected images [N, H, W] and N labels, got {images.shape} and {labels.shape}")
    if images.shape[1] != resolution:
        images = np.stack(
            [
                np.asarray(Image.fromarray(im).resize((resolution, resolution), Image.Resampling.BICUBIC))
                for im in images
            ]
        )
    return TensorImageDataset(
        torch.from_numpy(images.copy())[:, None],
        torch.from_numpy(labels.astype(np.int64)),
        DatasetInfo(name, resolution, 1, tuple(str(d) for d in range(10))),
    )
