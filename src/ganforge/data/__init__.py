"""Datasets: built-in offline sets, image folders and zips, tar shards (local or by URL), MNIST/CelebA/FFHQ loaders;
`build` picks by --data."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, Dataset

from ..config import DataConfig
from ..errors import ConfigError, DataError
from ..families import Task
from ..registry import Registry
from .base import DatasetInfo, ImageDataset, SubsetDataset, TensorImageDataset
from .builtin import StackedDigits, digits, lfw, shapes
from .folder import FolderDataset
from .images import ImageDecodeError
from .mnist import mnist
from .paired import PairedFolderDataset, TensorPairDataset, photo_edges, shapes_edges, with_input_lines
from .shards import ShardDataset, is_shards
from .unpaired import UnpairedDataset, build_unpaired, has_unpaired_layout, subset_unpaired

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "ImageDataset",
    "TensorImageDataset",
    "build",
    "FolderDataset",
    "ShardDataset",
    "is_shards",
]

# name -> builder(path or None, resolution or None, channels or None) -> ImageDataset
DATASETS: Registry[Callable[..., ImageDataset]] = Registry("dataset")
CELEBA_CROP = 140  # centre square of aligned 178x218 CelebA faces, as common in GAN papers
CACHE_BUDGET_BYTES = int(float(os.environ.get("GANFORGE_CACHE_GB", "4")) * 2**30)


def _made_here(make: Callable[[int | None], ImageDataset]) -> Callable[..., ImageDataset]:
    """A builder for a set made here (no path) from its maker, which takes the resolution (None: its default) only."""
    return lambda path, resolution, channels: make(resolution)


def _mnist(path, resolution, channels):
    return mnist(resolution, root=Path(path) if path else None)


class InMemorySet(NamedTuple):
    build: Callable[..., ImageDataset]  # (path or None, resolution or None, channels or None) -> the dataset
    images: int  # how many images it holds
    channels: int  # channels of each, a pair's input image included (for the memory estimate)


# Built-in sets held in memory whole: registered from this table, whose sizes give `memory_estimate`
IN_MEMORY_SETS = {
    "digits": InMemorySet(_made_here(digits), 1797, 1),
    "stacked-digits": InMemorySet(_made_here(StackedDigits), 1797, 1),
    "shapes": InMemorySet(_made_here(shapes), 10000, 3),
    "shapes-edges": InMemorySet(_made_here(shapes_edges), 1000, 4),
    "photo-edges": InMemorySet(_made_here(photo_edges), 1000, 4),
    "lfw": InMemorySet(_made_here(lfw), 200, 1),
    "mnist": InMemorySet(_mnist, 60000, 1),
}
for _name, _set in IN_MEMORY_SETS.items():
    DATASETS.register(_name)(_set.build)


@DATASETS.register("pairs")
def _pairs(path, resolution, channels):
    return PairedFolderDataset(_require_path("pairs", path), resolution, name=f"pairs:{path}")


@DATASETS.register("celeba")
def _celeba(path, resolution, channels):
    root = _require_path("celeba", path)
    for candidate in (root / "img_align_celeba", root / "img_align_celeba.zip"):
        if candidate.exists():
            root = candidate
            break
    return FolderDataset(root, resolution or 64, channels or 3, crop=CELEBA_CROP, name=f"celeba:{path}")


@DATASETS.register("ffhq")
def _ffhq(path, resolution, channels):
    return FolderDataset(_require_path("ffhq", path), resolution or 256, channels or 3, name=f"ffhq:{path}")


def memory_estimate(cfg: DataConfig) -> int | None:
    """Bytes a built-in set takes in memory at --resolution (None: not a built-in set, or its default size)."""
    name = cfg.source.partition(":")[0]
    if name not in IN_MEMORY_SETS or cfg.resolution is None or Path(cfg.source).exists():
        return None
    held = IN_MEMORY_SETS[name]
    return held.images * held.channels * cfg.resolution**2


def _require_path(name: str, path: str | None) -> Path:
    if not path:
        raise ConfigError(
            f"--data {name}:PATH needs the folder or zip of {name} images, e.g. --data {name}:~/data/{name}"
        )
    return Path(path).expanduser()


def build(cfg: DataConfig, cache: bool = True, task: Task = Task.NOISE_TO_IMAGE) -> ImageDataset:
    """The dataset named by --data for a model of `task`: a built-in name, NAME:PATH, a folder, a zip of images, or
    tar shards (a folder with index.json, or its https://, s3:// or gs:// URL).

    Task.PAIRED: the model translates images (pix2pix), so a folder is read as A/ + B/ or side-by-side A|B pairs.
    Task.UNPAIRED: the model translates between two independent sets (CycleGAN): see data/unpaired.py.
    """
    paired = task is Task.PAIRED
    if task is Task.UNPAIRED:
        dataset = build_unpaired(cfg)
        if cfg.subset:
            dataset = subset_unpaired(dataset, cfg.subset)
        return cache_if_small(dataset, cfg.workers) if cache else dataset
    if cfg.source_a or cfg.source_b or cfg.source == "digits-stylized" or has_unpaired_layout(cfg.source):
        raise ConfigError(
            f"--data{'-a/--data-b' if cfg.source_a or cfg.source_b else ' ' + cfg.source}: unpaired "
            f"data (two independent domains) needs an unpaired translation model: --model cyclegan"
        )
    name, _, path = cfg.source.partition(":")
    if is_shards(cfg.source):
        dataset = ShardDataset(cfg.source, cfg.resolution, cfg.channels)
    elif name in DATASETS and (path or not Path(cfg.source).exists()):
        dataset = DATASETS.get(name)(path or None, cfg.resolution, cfg.channels)
    elif Path(cfg.source).expanduser().exists():
        dataset = (
            PairedFolderDataset(cfg.source, cfg.resolution)
            if paired
            else FolderDataset(cfg.source, cfg.resolution, cfg.channels)
        )
    else:
        raise DataError(
            f"--data {cfg.source}: no such file or folder, and not a built-in dataset ({', '.join(DATASETS.names())})"
        )
    if task is not dataset.info.task:
        raise ConfigError(
            f"--data {cfg.source}: "
            + (
                "this model translates images and needs paired data: A/ and B/ "
                "folders, side-by-side A|B images (pairs:PATH), or make pairs with `ganforge pairs`"
                if paired
                else "paired data needs an image-to-image model such as --model pix2pix"
            )
        )
    if paired:
        dataset = with_input_lines(dataset)
    if cfg.channels is not None and dataset.info.channels != cfg.channels:
        raise ConfigError(f"--channels {cfg.channels}: dataset {cfg.source!r} has {dataset.info.channels} channel(s)")
    if cfg.cond and dataset.info.num_classes < 2:
        raise ConfigError(
            f"--cond needs labels, but {cfg.source!r} has none: put each class in its own sub-folder "
            f"or add a labels.json mapping file names to classes"
        )
    if cfg.subset:
        if cfg.subset > len(dataset):
            raise ConfigError(f"--subset {cfg.subset}: {cfg.source!r} has only {len(dataset)} images")
        dataset = SubsetDataset(
            dataset, torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[: cfg.subset]
        )
    return cache_if_small(dataset, cfg.workers) if cache else dataset


def cache_if_small(dataset: ImageDataset, workers: int = 0) -> ImageDataset:
    """A folder dataset decoded into memory when it fits the GANFORGE_CACHE_GB budget (default 4); else as is."""
    if isinstance(dataset, UnpairedDataset):
        return dataset.map_sides(lambda side: cache_if_small(side, workers))
    if isinstance(dataset, SubsetDataset):
        return SubsetDataset(cache_if_small(dataset.dataset, workers), dataset.indices)
    if not isinstance(dataset, (FolderDataset, PairedFolderDataset)):
        return dataset
    info = dataset.info
    if len(dataset) * (info.channels + info.input_channels) * info.resolution**2 > CACHE_BUDGET_BYTES:
        return dataset
    return dataset.to_memory() if isinstance(dataset, PairedFolderDataset) else cache_in_memory(dataset, workers)


class _Decoded(Dataset):
    """Decode-or-None view of a folder dataset, for the one-off caching pass."""

    def __init__(self, dataset: FolderDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        try:
            return index, torch.from_numpy(self.dataset.decode(index)).permute(2, 0, 1), None
        except (ImageDecodeError, OSError) as error:
            return index, None, str(error)


def cache_in_memory(dataset: FolderDataset, workers: int = 0) -> TensorImageDataset:
    """Decode every image once into one uint8 tensor; unreadable and too small files are skipped with one warning
    listing them."""
    info = dataset.info
    images = torch.empty((len(dataset), info.channels, info.resolution, info.resolution), dtype=torch.uint8)
    good = torch.zeros(len(dataset), dtype=torch.bool)
    failures = []
    loader = DataLoader(_Decoded(dataset), batch_size=64, num_workers=workers, collate_fn=list)
    for batch in loader:
        for index, image, error in batch:
            if image is None:
                failures.append(error)
            else:
                images[index], good[index] = image, True
    if not bool(good.any()):
        raise DataError(
            f"{dataset.source.flag} {dataset.source.path}: none of the {len(dataset)} image files could "
            f"be decoded; first error: {failures[0]}"
        )
    if failures:
        shown = "\n  ".join(failures[:5]) + (f"\n  ... and {len(failures) - 5} more" if len(failures) > 5 else "")
        warnings.warn(f"skipped {len(failures)} unreadable or too small image(s) in {dataset.source.path}:\n  {shown}")
    labels = torch.tensor(dataset.labels)[good]
    return TensorImageDataset(images[good], labels, info)
