"""The small-data split: disjoint, stratified, covering, deterministic per seed; bad sizes and short classes fail."""

import numpy as np
import pytest

from ganforge.errors import ConfigError, DataError
from ganforge.experiments.split import check_class_sizes, parse_sizes, stratified_split

LABELS = np.random.default_rng(3).integers(0, 4, 400)  # unbalanced 4-class labels


@pytest.mark.parametrize("per_class", [1, 5, 20])
def test_split_is_disjoint_stratified_and_covers_everything(per_class):
    train, test = stratified_split(LABELS, per_class, seed=0)
    assert len(np.intersect1d(train, test)) == 0
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(LABELS)))
    assert np.bincount(LABELS[train], minlength=4).tolist() == [per_class] * 4
    assert len(train) == len(set(train.tolist()))


def test_split_is_deterministic_per_seed_and_differs_between_seeds():
    first, again, other = (stratified_split(LABELS, 10, seed) for seed in (1, 1, 2))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_parse_sizes():
    assert parse_sizes("20, 5,10,5") == [5, 10, 20]
    for bad in ("", "5,x", "0,5", "-3", "1.5"):
        with pytest.raises(ConfigError, match="--per-class"):
            parse_sizes(bad)


def test_short_class_is_named():
    labels = np.array([0] * 10 + [1] * 3)
    check_class_sizes(labels, ("big", "small"), 2, "data/")
    with pytest.raises(DataError, match=r"--per-class 3: .*'small' has 3"):
        check_class_sizes(labels, ("big", "small"), 3, "data/")
