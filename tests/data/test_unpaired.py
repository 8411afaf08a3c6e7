"""Unpaired data (CycleGAN): two folders or trainA/ + trainB/, independent shuffling, the digits-stylized demo,
the cartoon pair task with its unpaired layout, and clear errors."""

import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganforge import data as data_lib
from ganforge.cli import main
from ganforge.config import DataConfig
from ganforge.data.degradations import PAIR_TASKS
from ganforge.data.sampler import batches
from ganforge.data.unpaired import UnpairedDataset, build_unpaired, demo_parts, digits_stylized
from ganforge.errors import ConfigError, DataError
from ganforge.families import Task
from tests.conftest import write_image


def _folder(root, count, mode, seed=0):
    for index in range(count):
        write_image(root / f"img{index}.png", mode, (24, 20), seed=seed + index)
    return root


def test_two_folders_with_different_channels_are_matched_and_said_once(tmp_path):
    a, b = _folder(tmp_path / "gray", 3, "L"), _folder(tmp_path / "colour", 5, "RGB", seed=10)
    with pytest.warns(UserWarning, match="domain A is grayscale") as caught:
        dataset = data_lib.build(DataConfig(source_a=str(a), source_b=str(b), resolution=16), task=Task.UNPAIRED)
    assert len(caught) == 1
    assert dataset.info.unpaired and dataset.info.channels == dataset.info.input_channels == 3
    assert len(dataset) == 5  # an epoch shows the larger side once
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no more warnings while loading
        images_b, images_a = dataset.batch(torch.tensor([[2, 4], [0, 1]]))
    assert images_a.shape == images_b.shape == (2, 3, 16, 16) and images_a.dtype == torch.uint8
    assert torch.equal(images_a[:, 0], images_a[:, 1]) and torch.equal(images_a[:, 0], images_a[:, 2])  # gray in RGB
    assert not torch.equal(images_b[:, 0], images_b[:, 1])


def test_train_and_test_folders_of_the_cyclegan_layout(tmp_path):
    for part, count in (("trainA", 4), ("trainB", 3), ("testA", 2), ("testB", 2)):
        _folder(tmp_path / part, count, "RGB", seed=count)
    train = build_unpaired(DataConfig(source=str(tmp_path), resolution=16))
    test = build_unpaired(DataConfig(source=str(tmp_path), resolution=16), split="test")
    assert (len(train.side_a), len(train.side_b), len(test.side_a), len(test.side_b)) == (4, 3, 2, 2)
    assert train.info.resolution == 16


def test_sides_are_shuffled_independently_deterministically_and_per_rank(tmp_path):
    dataset = UnpairedDataset(
        *(
            data_lib.TensorImageDataset(
                torch.zeros(n, 1, 8, 8, dtype=torch.uint8), torch.arange(n), data_lib.DatasetInfo("t", 8, 1)
            )
            for n in (6, 10)
        ),
        name="t",
    )
    stream = dataset.index_batches(4, seed=3, start_batch=0)
    drawn = torch.cat([next(stream) for _ in range(15)])  # 60 items: 10 epochs of A, 6 of B
    a, b = drawn[:, 0], drawn[:, 1]
    assert torch.equal(torch.bincount(a, minlength=6), torch.full((6,), 10))
    assert torch.equal(torch.bincount(b, minlength=10), torch.full((10,), 6))
    partners = {(int(x), int(y)) for x, y in drawn}
    assert len(partners) > 30  # who meets whom changes from epoch to epoch
    resumed = dataset.index_batches(4, seed=3, start_batch=7)
    assert torch.equal(next(resumed), drawn[28:32])  # resumable at any batch
    halves = [next(dataset.index_batches(4, seed=3, start_batch=0, rank=r, world=2)) for r in (0, 1)]
    assert torch.equal(torch.cat(halves), drawn[:4])
    b_images, a_images = next(batches(dataset, 4, 3, 0))  # the sampler uses the dataset's own index batches
    assert a_images.shape == (4, 1, 8, 8)


def test_digits_stylized_sides_share_no_digit_image():
    parts = demo_parts(1797)
    seen = np.concatenate(list(parts.values()))
    assert len(seen) == len(set(seen.tolist())) == 1797
    dataset = digits_stylized(16)
    assert dataset.info.channels == 3 and dataset.info.class_names[3] == "3"
    labels_a, labels_b = dataset.labels()
    assert len(labels_a) == len(parts["trainA"]) and len(labels_b) == len(parts["trainB"])
    b_images, a_images = dataset.batch(torch.arange(8))
    assert torch.equal(a_images[:, 0], a_images[:, 2])  # A: gray digits
    assert (b_images[:, 0] != b_images[:, 2]).any()  # B: coloured
    test = digits_stylized(16, split="test")
    assert (len(test.side_a), len(test.side_b)) == (len(parts["testA"]), len(parts["testB"]))


def test_bad_unpaired_input_is_named(tmp_path):
    good = _folder(tmp_path / "good", 2, "RGB")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"^--data-b .*empty: no images found"):
        build_unpaired(DataConfig(source_a=str(good), source_b=str(tmp_path / "empty")))
    with pytest.raises(DataError, match=r"^--data-a .*missing: no such file or folder"):
        build_unpaired(DataConfig(source_a=str(tmp_path / "missing"), source_b=str(good)))
    with pytest.raises(ConfigError, match="--data-a needs --data-b"):
        build_unpaired(DataConfig(source_a=str(good)))
    with pytest.raises(ConfigError, match="unpaired translation needs two image sets"):
        build_unpaired(DataConfig(source="digits"))
    with pytest.raises(ConfigError, match="--model cyclegan"):  # pix2pix/noise models refuse unpaired data
        data_lib.build(DataConfig(source="digits-stylized"), task=Task.PAIRED)
    with pytest.raises(ConfigError, match="--model cyclegan"):
        data_lib.build(DataConfig(source_a=str(good), source_b=str(good)))


def test_cartoon_task_flattens_colours_and_draws_dark_lines():
    y, x = np.mgrid[:64, :64]
    photo = np.stack([x * 4, y * 4, (x + y) * 2], axis=2).astype(np.uint8)  # smooth gradients
    photo[20:44, 20:44] = (250, 40, 40)  # a red square
    out = PAIR_TASKS.get("cartoon")(photo, np.random.default_rng(0), colours=6)
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert len(np.unique(out.reshape(-1, 3), axis=0)) < len(np.unique(photo.reshape(-1, 3), axis=0)) / 10
    lines = out.sum(axis=2) < 60
    assert lines[18:46, 18:46].any() and not lines[28:36, 28:36].any()  # ink along the square's border only


def test_pairs_cartoon_writes_disjoint_unpaired_halves(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(9):
        Image.fromarray(np.random.default_rng(index).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
            photos / f"p{index}.png"
        )
    out = tmp_path / "cartoon"
    result = CliRunner().invoke(
        main, ["pairs", "--task", "cartoon", str(photos), "--out", str(out), "--resolution", "32", "--holdout", "1"]
    )
    assert result.exit_code == 0, result.output
    names = {
        part: sorted(p.name for p in (out / part).glob("*.png")) for part in ("trainA", "trainB", "testA", "testB")
    }
    assert len(names["trainA"]) == 4 and len(names["trainB"]) == 4  # the 8 training photos split in halves
    assert not set(names["trainA"]) & set(names["trainB"])  # no cartoon of a domain-A photo
    assert names["testA"] == names["testB"] and len(names["testA"]) == 1  # held out: photo and its cartoon
    assert "photos in trainA/" in result.output
    dataset = build_unpaired(DataConfig(source=str(out), resolution=32))
    assert len(dataset.side_a) == len(dataset.side_b) == 4
