"""Paired (A -> B) datasets for image-to-image translation: pix2pix's side-by-side A|B images, or folders A/ and B/
with matching file names; plus the built-in `shapes-edges` and `photo-edges` demo sets."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ..errors import DataError
from .base import DatasetInfo, ImageDataset
from .folder import CHANNEL_PROBE, ImageSource
from .images import ImageDecodeError, is_grayscale, open_image, resize_center_crop, to_array

DEFAULT_RESOLUTION = 256


def _stem(name: str) -> str:
    return str(PurePosixPath(name).with_suffix(""))


class TensorPairDataset(ImageDataset):
    """Pairs in memory: targets B uint8 [N, C, H, W] and inputs A uint8 [N, C_A, H, W]."""

    def __init__(self, targets: torch.Tensor, inputs: torch.Tensor, info: DatasetInfo):
        assert targets.shape[0] == inputs.shape[0] and targets.shape[2:] == inputs.shape[2:]
        assert info.input_channels == inputs.shape[1] and info.channels == targets.shape[1]
        self.targets, self.inputs, self.info = targets, inputs, info

    def __len__(self) -> int:
        return len(self.targets)

    def image(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.targets[index], self.inputs[index]

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.targets[indices], self.inputs[indices]


class PairedFolderDataset(ImageDataset):
    """A folder (or zip) holding A/ and B/ with matching names, or side-by-side A|B images; decoded on access."""

    def __init__(self, path: str | Path, resolution: int | None = None, name: str | None = None):
        root = Path(path).expanduser()
        if not root.exists():
            raise DataError(f"--data {root}: no such file or folder")
        self.split = not ((root / "A").is_dir() and (root / "B").is_dir())
        if self.split:
            self.source_b = self.source_a = ImageSource(root)
            if not self.source_b.names:
                raise DataError(
                    f"--data {root}: no images; paired data is A/ and B/ folders with matching names, "
                    f"or side-by-side A|B images"
                )
            # `ganforge pairs --holdout` writes its evaluation pairs to holdout/: never training data
            self.names_a = self.names_b = [n for n in self.source_b.names if not n.startswith("holdout/")]
        else:
            self.source_a, self.source_b = ImageSource(root / "A"), ImageSource(root / "B")
            stems_a = {_stem(n): n for n in self.source_a.names}
            stems_b = {_stem(n): n for n in self.source_b.names}
            unmatched = sorted(set(stems_a) ^ set(stems_b))
            if unmatched:
                raise DataError(
                    f"--data {root}: {len(unmatched)} image(s) in only one of A/ and B/, e.g. {unmatched[0]!r}"
                )
            if not stems_a:
                raise DataError(f"--data {root}: A/ and B/ hold no images")
            self.names_a = [stems_a[s] for s in sorted(stems_a)]
            self.names_b = [stems_b[s] for s in sorted(stems_b)]
        if not self.names_b:
            raise DataError(f"--data {root}: no training pairs outside holdout/")
        gray_b, gray_a = self._grayscale(root)
        self.info = DatasetInfo(
            name or str(path), int(resolution or DEFAULT_RESOLUTION), 1 if gray_b else 3, (), 1 if gray_a else 3
        )
        self._warned: set[int] = set()

    def _grayscale(self, root: Path) -> tuple[bool, bool]:
        """(all B grayscale, all A grayscale) over up to CHANNEL_PROBE pairs spread over the set; unreadable pairs are
        passed over (training skips them with a warning), and when no probe decodes, the first pair that does."""
        probes = list(range(0, len(self), max(1, len(self) // CHANNEL_PROBE)))[:CHANNEL_PROBE]
        probed = set(probes)
        order = probes + [i for i in range(len(self)) if i not in probed]
        gray_b = gray_a = True
        decoded, errors = 0, []
        for position, index in enumerate(order):
            if decoded and position >= len(probes):
                break
            try:
                a, b = self._open(index)
            except (ImageDecodeError, OSError) as error:
                errors.append(str(error))
                continue
            decoded += 1
            gray_b, gray_a = gray_b and is_grayscale(b), gray_a and is_grayscale(a)
        if not decoded:
            raise DataError(f"--data {root}: none of the {len(self)} pairs could be decoded; first error: {errors[0]}")
        return gray_b, gray_a

    def __len__(self) -> int:
        return len(self.names_b)

    def _open(self, index: int):
        if self.split:
            image = open_image(self.source_b.read(self.names_b[index]), self.names_b[index])
            width, height = image.size
            if width < 2:
                raise ImageDecodeError("too small", f"{self.names_b[index]}: too narrow to hold A|B")
            return image.crop((0, 0, width // 2, height)), image.crop((width // 2, 0, width // 2 * 2, height))
        return (
            open_image(self.source_a.read(self.names_a[index]), self.names_a[index]),
            open_image(self.source_b.read(self.names_b[index]), self.names_b[index]),
        )

    def decode(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(B uint8 [R, R, C], A uint8 [R, R, C_A]) resized and cropped identically."""
        a, b = self._open(index)
        if a.size != b.size:
            a = a.resize(b.size)
        size = self.info.resolution
        return (
            resize_center_crop(to_array(b, self.info.channels), size),
            resize_center_crop(to_array(a, self.info.input_channels), size),
        )

    def image(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        for offset in range(len(self)):
            candidate = (index + offset) % len(self)
            try:
                b, a = self.decode(candidate)
            except (ImageDecodeError, OSError) as error:
                if candidate not in self._warned:
                    self._warned.add(candidate)
                    warnings.warn(f"skipping unreadable pair: {error}")
                continue
            return torch.from_numpy(b).permute(2, 0, 1).contiguous(), torch.from_numpy(a).permute(2, 0, 1).contiguous()
        raise DataError(f"--data {self.info.name}: no pair could be decoded")

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        items = [self.image(int(i)) for i in indices]
        return torch.stack([b for b, _ in items]), torch.stack([a for _, a in items])

    def to_memory(self) -> TensorPairDataset:
        """Decode every pair once; unreadable pairs are skipped with one warning."""
        targets, inputs, failures = [], [], []
        for index in range(len(self)):
            try:
                b, a = self.decode(index)
            except (ImageDecodeError, OSError) as error:
                failures.append(str(error))
                continue
            targets.append(torch.from_numpy(b).permute(2, 0, 1))
            inputs.append(torch.from_numpy(a).permute(2, 0, 1))
        if not targets:
            raise DataError(f"--data {self.info.name}: none of the {len(self)} pairs could be decoded; {failures[0]}")
        if failures:
            warnings.warn(f"skipped {len(failures)} unreadable pair(s): " + "; ".join(failures[:5]))
        return TensorPairDataset(torch.stack(targets), torch.stack(inputs), self.info)


def _edge_pairs(photos: list[np.ndarray], name: str, resolution: int, seed: int = 0) -> TensorPairDataset:
    """Edges -> photo pairs from uint8 [R, R, 3] photos, with the `edges` pair task."""
    from .degradations import PAIR_TASKS

    edges = PAIR_TASKS.get("edges")
    inputs = [edges(photo, np.random.default_rng([seed, i])) for i, photo in enumerate(photos)]
    targets = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).contiguous()
    inputs_t = torch.from_numpy(np.stack(inputs)).permute(0, 3, 1, 2).contiguous()
    return TensorPairDataset(targets, inputs_t, DatasetInfo(name, resolution, 3, (), inputs_t.shape[1]))


def shapes_edges(resolution: int | None, size: int = 1000) -> TensorPairDataset:
    """Edges of procedural shapes -> the filled, coloured shapes."""
    from .builtin import shapes

    resolution = resolution or 64
    photos = shapes(resolution, size=size).images.permute(0, 2, 3, 1).numpy()
    return _edge_pairs(list(photos), "shapes-edges", resolution)


PHOTO_NAMES = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "cat",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "colorwheel",
    "logo",
    "motorcycle_left",
    "horse",
)


def photo_edges(resolution: int | None, size: int = 1000, seed: int = 0) -> TensorPairDataset:
    """Edges -> random square crops of the colour photos that scikit-image ships."""
    try:
        import skimage.data
    except ImportError:
        raise DataError("--data photo-edges needs scikit-image: pip install scikit-image") from None
    resolution = resolution or 64
    photos = []
    for photo_name in PHOTO_NAMES:
        try:
            photo = getattr(skimage.data, photo_name)()
        except Exception:  # a photo that this scikit-image would have to download is skipped
            continue
        if photo.ndim == 3 and photo.shape[2] in (3, 4):
            photos.append(np.ascontiguousarray(photo[:, :, :3]).astype(np.uint8))
    if not photos:
        raise DataError("--data photo-edges: scikit-image ships none of its sample colour photos here")
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(size):
        photo = photos[rng.integers(len(photos))]
        height, width = photo.shape[:2]
        side = int(rng.integers(min(height, width) // 4, min(height, width) + 1))
        top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        crops.append(resize_center_crop(photo[top : top + side, left : left + side], resolution))
    return _edge_pairs(crops, "photo-edges", resolution, seed)


LINE_SAMPLE = 256  # inputs measured for their line statistics (a seeded random sample)


def with_input_lines(dataset: ImageDataset) -> ImageDataset:
    """`dataset` with `info.input_lines` set when its inputs A are line drawings (sketch.measure_lines on a seeded
    sample of LINE_SAMPLE inputs), so that the model trained on it carries the line width and polarity it learnt."""
    from ..sketch import measure_lines

    picked = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:LINE_SAMPLE]
    inputs = dataset.batch(picked)[1]  # uint8 [N, C_A, H, W]
    dataset.info = dataclasses.replace(dataset.info, input_lines=measure_lines(inputs.float().mean(1).numpy()))
    return dataset
