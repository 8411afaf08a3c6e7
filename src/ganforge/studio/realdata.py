"""The real images behind a model, for the game (a real image from the training data) and the Sketch page (an input
from the held-out pairs that `ganforge pairs --holdout` wrote to DATA/holdout/, else from the training pairs).
Datasets are built from the source the generator records and kept, a few at a time."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import data as data_lib
from ..artifacts.generator import LoadedGenerator
from ..config import DataConfig
from ..data.paired import PairedFolderDataset
from ..errors import GanforgeError
from .bounded import Bounded
from .errors import StudioError

MAX_DATASETS = 4


@dataclass(frozen=True)
class RealImage:
    image: np.ndarray  # uint8 [H, W, C]
    name: str  # the file inside the dataset, or dataset#index for built-in sets
    held_out: bool  # from held-out evaluation pairs (never trained on)


class RealData:
    """Datasets by source, built on first use (bounded, least recently used dropped first); one instance is shared
    by every app in the process (`SHARED`), since a dataset never changes while the studio runs."""

    def __init__(self):
        self._datasets = Bounded(MAX_DATASETS)  # (name, resolution, channels, held out) -> (dataset, held out)
        self._lock = threading.Lock()

    def _dataset(self, generator: LoadedGenerator, held_out: bool) -> tuple[data_lib.ImageDataset, bool]:
        info = generator.dataset
        key = (info.name, info.resolution, info.channels, held_out)
        with self._lock:
            found = self._datasets.recall(key)
        if found is not None:
            return found
        try:
            holdout = Path(info.name.partition(":")[2] or info.name).expanduser() / "holdout"
            if held_out and holdout.is_dir():
                found = (PairedFolderDataset(holdout, info.resolution), True)
            else:
                config = DataConfig(source=info.name, resolution=info.resolution, channels=info.channels)
                found = (data_lib.build(config, cache=False, task=info.task), False)
        except GanforgeError as error:
            raise StudioError(422, f"the data of {Path(generator.source).name} is not readable here: {error}") from None
        with self._lock:
            return self._datasets.remember(key, found)

    def sample(self, generator: LoadedGenerator, rng: np.random.Generator, input_side: bool = False) -> RealImage:
        """A random real image (the target B of a pair), or with `input_side` a random input A of a pair."""
        dataset, held_out = self._dataset(generator, held_out=input_side)
        index = int(rng.integers(len(dataset)))
        image, label = dataset.image(index)
        chosen = label if input_side else image  # paired sets return the input A in the label's place
        names = getattr(getattr(dataset, "source", None), "names", None) or getattr(dataset, "names_b", None)
        name = names[index] if names else f"{generator.dataset.name}#{index}"
        return RealImage(chosen.permute(1, 2, 0).numpy(), name, held_out)


SHARED = RealData()
