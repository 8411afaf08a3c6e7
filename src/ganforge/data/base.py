"""The dataset contract every source meets: uint8 [C, H, W] images with integer labels, plus metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset

from ..families import Task
from ..sketch import LineStats


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # what the user passed as --data (built-in name or path)
    resolution: int  # image side in pixels
    channels: int  # 1 or 3
    class_names: tuple[str, ...] = field(default_factory=tuple)  # empty: unlabelled
    input_channels: int = 0  # > 0: paired data (image-to-image); channels of the input image A
    unpaired: bool = False  # image-to-image data whose A and B images are independent (CycleGAN), not pairs
    input_lines: LineStats | None = None  # paired data whose inputs A are line drawings: their width and polarity

    @property
    def task(self) -> Task:
        """The kind of model this data trains (stored as `input_channels` and `unpaired`, the saved format)."""
        if self.unpaired:
            return Task.UNPAIRED
        return Task.PAIRED if self.input_channels > 0 else Task.NOISE_TO_IMAGE

    @property
    def paired(self) -> bool:
        """Image-to-image data, paired or not: the generator reads an image A (`task.translates`)."""
        return self.task.translates

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict:
        lines = {"input_lines": self.input_lines.to_dict()} if self.input_lines is not None else {}
        return {
            "name": self.name,
            "resolution": self.resolution,
            "channels": self.channels,
            "class_names": list(self.class_names),
            "input_channels": self.input_channels,
            "unpaired": self.unpaired,
            **lines,
        }

    @staticmethod
    def from_dict(raw: dict) -> DatasetInfo:
        lines = LineStats.from_dict(raw["input_lines"]) if raw.get("input_lines") else None
        return DatasetInfo(
            raw["name"],
            int(raw["resolution"]),
            int(raw["channels"]),
            tuple(raw.get("class_names", ())),
            int(raw.get("input_channels", 0)),
            bool(raw.get("unpaired", False)),
            lines,
        )


class ImageDataset(Dataset):
    """Base class: subclasses set `info` and implement `__len__` and `image(index) -> (uint8 [C, H, W], label)`.

    Paired (image-to-image) datasets return the input image A, uint8 [input_channels, H, W], in the label's place.
    """

    info: DatasetInfo

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.image(index)
        assert image.dtype == torch.uint8 and image.shape == (
            self.info.channels,
            self.info.resolution,
            self.info.resolution,
        ), image.shape
        return image, label

    def image(self, index: int) -> tuple[torch.Tensor, int]:
        raise NotImplementedError

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images [B, C, H, W] and labels [B] for a batch of indices."""
        items = [self[int(i)] for i in indices]
        return torch.stack([image for image, _ in items]), torch.tensor([label for _, label in items])


class TensorImageDataset(ImageDataset):
    """Images already in memory as one uint8 tensor [N, C, H, W] (built-in sets, cached folders)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, info: DatasetInfo):
        assert images.ndim == 4 and images.dtype == torch.uint8 and len(labels) == len(images)
        self.images, self.labels, self.info = images, labels.long(), info

    def __len__(self) -> int:
        return len(self.images)

    def image(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[indices], self.labels[indices]


class SubsetDataset(ImageDataset):
    """The images of `dataset` at `indices` (e.g. a small-data experiment), same metadata."""

    def __init__(self, dataset: ImageDataset, indices: torch.Tensor):
        self.dataset, self.indices, self.info = dataset, indices, dataset.info

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, index: int):
        return self.dataset.image(int(self.indices[index]))

    def batch(self, indices: torch.Tensor):
        return self.dataset.batch(self.indices[indices])
