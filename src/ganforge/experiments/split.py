"""The small-data split of the augmentation experiment: a seeded, stratified training subset of `per_class` images
of every class; every other image is the test set. The GAN, the filter and the classifiers see the subset only."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError


def parse_sizes(text: str) -> list[int]:
    """'5,10,20,50' -> [5, 10, 20, 50] (sorted, unique); anything else is an error naming --per-class."""
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise ConfigError(f"--per-class {text!r}: give images per class as positive integers, e.g. 5,10,20,50")
    return sizes


def check_class_sizes(labels: np.ndarray, class_names: tuple[str, ...], per_class: int, source: str) -> None:
    """Every class needs `per_class` training images and at least one left over for the test set."""
    counts = np.bincount(labels, minlength=len(class_names))
    short = [(class_names[k], int(counts[k])) for k in range(len(class_names)) if counts[k] <= per_class]
    if short:
        listed = ", ".join(f"{name!r} has {count}" for name, count in short[:5])
        raise DataError(
            f"--per-class {per_class}: {source} has too few images in {len(short)} class(es) ({listed}); "
            f"each class needs {per_class} for training plus at least one for testing"
        )


def stratified_split(labels: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices), both sorted: `per_class` random images of each class for training (the same
    for the same labels and seed), all others for testing."""
    rng = np.random.default_rng([seed, per_class])
    train = [rng.permutation(np.flatnonzero(labels == label))[:per_class] for label in np.unique(labels)]
    train_indices = np.sort(np.concatenate(train))
    test_mask = np.ones(len(labels), dtype=bool)
    test_mask[train_indices] = False
    return train_indices, np.flatnonzero(test_mask)
