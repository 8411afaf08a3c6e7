"""Unpaired data for CycleGAN (Zhu et al. 2017): two independent image sets, domain A and domain B, from
--data-a/--data-b, a folder with trainA/ and trainB/ (testA/, testB/ for evaluation; the layout of the CycleGAN
authors' datasets), or the built-in `digits-stylized` demo. Each side is shuffled on its own every epoch.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from ..config import DataConfig
from ..errors import ConfigError, DataError
from .base import DatasetInfo, ImageDataset, SubsetDataset, TensorImageDataset
from .builtin import DIGIT_NAMES, digit_images
from .folder import FolderDataset, ImageSource
from .sampler import batch_indices

DEFAULT_RESOLUTION = 256  # the CycleGAN paper's training size for folders
SPLITS = ("train", "test")
DEMO_RESOLUTION = 32
# digits-stylized: fractions of the shuffled built-in digits per part; the four parts share no image
DEMO_PARTS = {"trainA": 0.4, "trainB": 0.4, "testA": 0.1, "testB": 0.1}


class UnpairedDataset(ImageDataset):
    """Domain A and domain B side by side, no correspondence: item i is (B image, A image) as for paired data
    (target first), with both sides in the same channels (the fewer-channel side is converted, said once).

    Training draws the two sides from independent epoch permutations (`index_batches`): a batch of indices is
    [B, 2] (A index, B index). A plain index i means (A[i mod |A|], B[i mod |B|]), e.g. for sample grids.
    """

    def __init__(self, side_a: ImageDataset, side_b: ImageDataset, name: str, announce: bool = True):
        # announce: warn about a channel conversion (False where it was said already, or is expected)
        a, b = side_a.info, side_b.info
        if a.resolution != b.resolution:
            raise DataError(f"{name}: domains A and B load at different resolutions ({a.resolution} vs {b.resolution})")
        channels = max(a.channels, b.channels)
        if a.channels != b.channels and announce:
            gray = "A" if a.channels < channels else "B"
            warnings.warn(
                f"{name}: domain {gray} is grayscale and the other is colour; domain {gray} is converted to "
                f"{channels} channels (gray in R, G and B)"
            )
        self.side_a, self.side_b = side_a, side_b
        class_names = a.class_names if a.class_names == b.class_names else ()
        self.info = DatasetInfo(name, a.resolution, channels, class_names, channels, unpaired=True)

    def __len__(self) -> int:
        """One epoch: every image of the larger side once."""
        return max(len(self.side_a), len(self.side_b))

    def _widen(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, C, H, W] -> [N, info.channels, H, W] (gray repeated into R, G, B)."""
        return images.expand(-1, self.info.channels, -1, -1).contiguous() if images.shape[1] == 1 else images

    def image(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        b, a = self.batch(torch.tensor([index]))
        return b[0], a[0]

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """B images and A images, uint8 [N, C, H, W] each, for indices [N] or [N, 2] (A index, B index)."""
        if indices.ndim == 1:
            indices = torch.stack([indices % len(self.side_a), indices % len(self.side_b)], dim=1)
        a, _ = self.side_a.batch(indices[:, 0])
        b, _ = self.side_b.batch(indices[:, 1])
        return self._widen(b), self._widen(a)

    def labels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Class labels of every A image and every B image (zeros for unlabelled folders)."""
        return (
            self.side_a.batch(torch.arange(len(self.side_a)))[1],
            self.side_b.batch(torch.arange(len(self.side_b)))[1],
        )

    def index_batches(
        self, global_batch: int, seed: int, start_batch: int, rank: int = 0, world: int = 1
    ) -> Iterator[torch.Tensor]:
        """Endless [B, 2] (A index, B index) batches for one rank: each side walks its own seeded epoch
        permutations (the B side under a different seed), so which A meets which B changes every epoch."""
        side_a = batch_indices(len(self.side_a), global_batch, seed, start_batch, rank, world)
        side_b = batch_indices(len(self.side_b), global_batch, seed + 1_000_003, start_batch, rank, world)
        return (torch.stack([a, b], dim=1) for a, b in zip(side_a, side_b))

    def map_sides(self, function) -> UnpairedDataset:
        """The same pairing of sides with `function` applied to each (e.g. caching decoded folders)."""
        return UnpairedDataset(function(self.side_a), function(self.side_b), self.info.name, announce=False)


# ----------------------------------------------------------------------------------------------- folders


def _side(flag: str, path: str, resolution: int | None, channels: int | None) -> FolderDataset:
    """One domain's folder or zip, with errors naming the flag."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise DataError(f"{flag} {path}: no such file or folder")
    if not ImageSource(folder, flag).names:
        raise DataError(f"{flag} {path}: no images found (png/jpg/jpeg/webp/bmp, searched recursively)")
    return FolderDataset(folder, resolution or DEFAULT_RESOLUTION, channels, name=str(path), flag=flag)


def has_unpaired_layout(path: str | Path) -> bool:
    """A folder with trainA/ and trainB/ (the CycleGAN datasets' layout)."""
    root = Path(path).expanduser()
    return (root / "trainA").is_dir() and (root / "trainB").is_dir()


def build_unpaired(cfg: DataConfig, split: str = "train") -> UnpairedDataset:
    """Domains A and B from --data-a/--data-b, from --data DIR with trainA/ + trainB/ (split 'test': testA/ +
    testB/), or a built-in unpaired set (digits-stylized)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if bool(cfg.source_a) != bool(cfg.source_b):
        given, missing = ("--data-a", "--data-b") if cfg.source_a else ("--data-b", "--data-a")
        raise ConfigError(f"{given} needs {missing} too: unpaired translation learns between two image folders")
    if cfg.source_a:
        if split == "test":
            raise ConfigError("--data-a/--data-b name training folders; pass the test folders as --data-a/--data-b")
        side_a = _side("--data-a", cfg.source_a, cfg.resolution, cfg.channels)
        side_b = _side("--data-b", cfg.source_b, side_a.info.resolution, cfg.channels)
        return UnpairedDataset(side_a, side_b, f"{cfg.source_a}|{cfg.source_b}")
    if cfg.source == "digits-stylized":
        return digits_stylized(cfg.resolution, split)
    if has_unpaired_layout(cfg.source):
        root = Path(cfg.source).expanduser()
        side_a = _side("--data", str(root / f"{split}A"), cfg.resolution, cfg.channels)
        side_b = _side("--data", str(root / f"{split}B"), side_a.info.resolution, cfg.channels)
        return UnpairedDataset(side_a, side_b, cfg.source)
    raise ConfigError(
        f"--data {cfg.source}: unpaired translation needs two image sets: --data-a FOLDER_A "
        f"--data-b FOLDER_B, a folder with trainA/ and trainB/, or the built-in digits-stylized"
    )


def subset_unpaired(dataset: UnpairedDataset, count: int) -> UnpairedDataset:
    """--subset N: a seeded choice of N images on each side (fewer where a side has fewer)."""

    def pick(side: ImageDataset) -> ImageDataset:
        order = torch.randperm(len(side), generator=torch.Generator().manual_seed(0))
        return SubsetDataset(side, order[:count])

    return dataset.map_sides(pick)


# ----------------------------------------------------------------------------------------------- built-in demo


def stylize_digit(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A gray digit uint8 [R, R] (white on black) -> a poster-like rendering uint8 [R, R, 3]: the strokes thickened
    and painted in one bright colour with a dark outline, on a dark background textured with stripes and blotches."""
    size = digit.shape[0]
    ink = digit.astype(np.float32) / 255.0
    thick = ndimage.grey_dilation(ink, size=(max(2, size // 12),) * 2)  # bolder strokes
    thick = ndimage.gaussian_filter(thick, size / 64)
    outline = np.clip(ndimage.grey_dilation(thick, size=(3, 3)) - thick, 0, 1)
    y, x = np.mgrid[:size, :size].astype(np.float32) / size
    angle, frequency = rng.uniform(0, np.pi), rng.uniform(4, 9)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * frequency * (x * np.cos(angle) + y * np.sin(angle)) + rng.uniform(0, 6.3))
    blotches = ndimage.gaussian_filter(rng.random((size, size)).astype(np.float32), size / 10)
    blotches = (blotches - blotches.min()) / max(float(np.ptp(blotches)), 1e-6)
    texture = 0.55 * stripes + 0.45 * blotches  # [R, R] in [0, 1]
    background_tint = rng.uniform(0.15, 0.6, 3).astype(np.float32)
    background = 0.06 + 0.34 * texture[:, :, None] * background_tint  # dark, tinted
    hue = rng.uniform(0, 1)
    colour = np.array([0.5 + 0.5 * np.cos(2 * np.pi * (hue + shift)) for shift in (0, 1 / 3, 2 / 3)], np.float32)
    colour = 0.55 + 0.45 * colour  # bright and saturated enough to stand out
    picture = background * (1 - thick[:, :, None]) + colour * thick[:, :, None]
    picture *= 1 - 0.7 * outline[:, :, None]
    return (np.clip(picture, 0, 1) * 255 + 0.5).astype(np.uint8)


def demo_parts(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Disjoint index sets of the built-in digits for trainA, trainB, testA, testB (seeded)."""
    order = np.random.default_rng([seed, 13]).permutation(count)
    parts, start = {}, 0
    for name, fraction in DEMO_PARTS.items():
        size = int(round(count * fraction))
        parts[name] = np.sort(order[start : start + size])
        start += size
    return parts


@functools.lru_cache(maxsize=4)  # made once per process (tests and benches train on it repeatedly); read-only
def digits_stylized(resolution: int | None, split: str = "train", seed: int = 0) -> UnpairedDataset:
    """A: the built-in digits as they are (gray); B: stylised renderings (thick coloured strokes on a textured
    background) of OTHER digit images, so no B image is a rendering of an A image. Labels are the digits."""
    resolution = resolution or DEMO_RESOLUTION
    images, labels = digit_images(resolution)
    parts = demo_parts(len(images), seed)
    indices_a, indices_b = parts[f"{split}A"], parts[f"{split}B"]
    side_a = TensorImageDataset(
        torch.from_numpy(images[indices_a])[:, None],
        torch.from_numpy(labels[indices_a]),
        DatasetInfo("digits", resolution, 1, DIGIT_NAMES),
    )
    styled = np.stack([stylize_digit(images[i], np.random.default_rng([seed, 14, int(i)])) for i in indices_b])
    side_b = TensorImageDataset(
        torch.from_numpy(styled).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(labels[indices_b]),
        DatasetInfo("digits-styled", resolution, 3, DIGIT_NAMES),
    )
    return UnpairedDataset(side_a, side_b, "digits-stylized", announce=False)  # gray -> colour is the demo's point
