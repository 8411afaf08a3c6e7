"""Image folders and zips (recursive, any common format), with labels from sub-folders, labels.json or dataset.json."""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ..errors import DataError
from .base import DatasetInfo, ImageDataset
from .images import ImageDecodeError, is_grayscale, is_image_name, load_image, min_side, open_image

DEFAULT_RESOLUTION = 64
CHANNEL_PROBE = 32  # images inspected to decide grayscale vs colour
META_FILES = ("labels.json", "dataset.json", "pairs.json")  # files of a dataset folder that are not images


class ImageSource:
    """A listing of image files in a folder or zip, readable as bytes from any process; errors name `flag`, the
    option that gave the path."""

    def __init__(self, path: str | Path, flag: str = "--data"):
        self.path, self.flag = Path(path).expanduser(), flag
        if not self.path.exists():
            raise DataError(f"{flag} {self.path}: no such file or folder")
        self.is_zip = self.path.is_file()
        if self.is_zip and not zipfile.is_zipfile(self.path):
            raise DataError(f"{flag} {self.path}: a file must be a .zip of images; pass a folder for loose images")
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = -1
        self.names = sorted(name for name in self._all_names() if is_image_name(name))

    def non_images(self) -> list[tuple[str, str, str]]:
        """(file, "not an image", detail) for every other file here (metadata files aside), sorted: reported as
        skipped by `prepare` and `pairs`."""
        return [
            (n, "not an image", f"{n}: not a png/jpg/jpeg/webp/bmp file")
            for n in sorted(set(self._all_names()) - set(self.names))
            if n not in META_FILES
        ]

    def _all_names(self) -> list[str]:
        if self.is_zip:
            return [info.filename for info in self._archive().infolist() if not info.is_dir()]
        names = []
        for root, dirs, files in os.walk(self.path, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            rel_root = Path(root).relative_to(self.path)
            names.extend((rel_root / f).as_posix() for f in files if not f.startswith("."))
        return names

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None or self._zip_pid != os.getpid():  # one handle per worker process
            self._zip, self._zip_pid = zipfile.ZipFile(self.path), os.getpid()
        return self._zip

    def read(self, name: str) -> bytes:
        if self.is_zip:
            return self._archive().read(name)
        return (self.path / name).read_bytes()

    def read_meta(self, name: str) -> dict | None:
        """A JSON side file (labels.json, dataset.json) at the root, or None."""
        if self.is_zip:
            if name not in self._archive().namelist():
                return None
            raw = self._archive().read(name)
        else:
            file = self.path / name
            if not file.is_file():
                return None
            raw = file.read_bytes()
        try:
            return json.loads(raw)
        except json.JSONDecodeError as error:
            raise DataError(f"{self.path}/{name} is not valid JSON: {error}") from None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_zip"], state["_zip_pid"] = None, -1
        return state


def labels_for(source: ImageSource) -> tuple[list[int], tuple[str, ...]]:
    """Per-image class indices and class names: dataset.json, else labels.json, else sub-folder names."""
    prepared = source.read_meta("dataset.json")
    mapping = None
    class_names: tuple[str, ...] = ()
    if prepared and prepared.get("labels") is not None:
        mapping, class_names = prepared["labels"], tuple(prepared.get("class_names", ()))
    else:
        mapping = source.read_meta("labels.json")
    if mapping is not None:
        if not isinstance(mapping, dict):
            raise DataError(f'{source.path}: labels.json must map file names to classes, e.g. {{"a.png": "cat"}}')
        missing = [name for name in source.names if name not in mapping]
        if missing:
            raise DataError(f"{source.path}: labels.json has no label for {len(missing)} image(s), e.g. {missing[0]!r}")
        values = [mapping[name] for name in source.names]
        if not class_names:
            if all(isinstance(v, int) for v in values):
                class_names = tuple(str(i) for i in range(max(values) + 1))
            else:
                class_names = tuple(sorted({str(v) for v in values}))
        index = {name: i for i, name in enumerate(class_names)}
        labels = [v if isinstance(v, int) else index[str(v)] for v in values]
        return labels, class_names
    folders = [PurePosixPath(name).parts[0] if len(PurePosixPath(name).parts) > 1 else None for name in source.names]
    if all(folders) and len(set(folders)) > 1:
        class_names = tuple(sorted(set(folders)))
        index = {name: i for i, name in enumerate(class_names)}
        return [index[f] for f in folders], class_names
    return [0] * len(source.names), ()


def detect_channels(source: ImageSource) -> int:
    """1 when every probed image is grayscale, else 3."""
    step = max(1, len(source.names) // CHANNEL_PROBE)
    for name in source.names[::step][:CHANNEL_PROBE]:
        try:
            if not is_grayscale(open_image(source.read(name), name)):
                return 3
        except ImageDecodeError:
            continue
    return 1


class FolderDataset(ImageDataset):
    """Decodes files on access; a file that fails to decode, or is smaller than `prepare` accepts (`min_side`), is
    replaced by the next good one, with a warning."""

    def __init__(
        self,
        path: str | Path,
        resolution: int | None = None,
        channels: int | None = None,
        crop: int | None = None,
        name: str | None = None,
        flag: str = "--data",
    ):
        self.source = ImageSource(path, flag)
        if not self.source.names:
            raise DataError(
                f"{flag} {self.source.path}: no images found (looked for "
                f"png/jpg/jpeg/webp/bmp files{' in the zip' if self.source.is_zip else ' recursively'})"
            )
        prepared = self.source.read_meta("dataset.json") or {}
        resolution = resolution or prepared.get("resolution") or DEFAULT_RESOLUTION
        channels = channels or prepared.get("channels") or detect_channels(self.source)
        self.labels, class_names = labels_for(self.source)
        self.crop = crop
        self.info = DatasetInfo(name or str(path), int(resolution), int(channels), class_names)
        self._warned: set[int] = set()

    def __len__(self) -> int:
        return len(self.source.names)

    def decode(self, index: int) -> np.ndarray:
        name = self.source.names[index]
        return load_image(
            self.source.read(name),
            self.info.resolution,
            self.info.channels,
            name,
            min_size=min_side(self.info.resolution),
            crop=self.crop,
        )

    def image(self, index: int) -> tuple[torch.Tensor, int]:
        for offset in range(len(self)):
            candidate = (index + offset) % len(self)
            try:
                array = self.decode(candidate)
            except (ImageDecodeError, OSError) as error:
                if candidate not in self._warned:
                    self._warned.add(candidate)
                    warnings.warn(f"skipping unreadable image {error} (run `ganforge prepare` to clean the data)")
                continue
            return torch.from_numpy(array).permute(2, 0, 1).contiguous(), self.labels[candidate]
        raise DataError(
            f"{self.source.flag} {self.source.path}: none of the {len(self)} image files could be used "
            f"(unreadable, or a side under {min_side(self.info.resolution)} px for --resolution "
            f"{self.info.resolution})"
        )
