"""Data that used to give tracebacks or silently wrong results: a pix2pix folder whose first file is corrupt,
duplicate photos in `pairs`, `prepare --channels 2`, and images smaller than `prepare` accepts in a folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import data
from ganforge.config import DataConfig
from ganforge.data.pair_tasks import make_pairs
from ganforge.data.paired import PairedFolderDataset
from ganforge.data.prepare import prepare_dataset
from ganforge.errors import ConfigError, DataError
from ganforge.families import Task


def _save(path: Path, shape, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def test_paired_folder_whose_first_file_is_corrupt(tmp_path):
    for index in range(1, 4):
        _save(tmp_path / "A" / f"{index}.png", (20, 20), seed=index)  # grayscale inputs
        _save(tmp_path / "B" / f"{index}.png", (20, 20, 3), seed=10 + index)
    (tmp_path / "A" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (tmp_path / "B" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    dataset = PairedFolderDataset(tmp_path, 16)
    assert (dataset.info.input_channels, dataset.info.channels) == (1, 3)  # detected from the readable pairs
    with pytest.warns(UserWarning, match="skipped 1 unreadable pair"):
        cached = data.build(DataConfig(source=str(tmp_path), resolution=16), task=Task.PAIRED)
    assert len(cached) == 3
    for name in ("1.png", "2.png", "3.png"):
        (tmp_path / "B" / name).write_bytes(b"not an image")
    with pytest.raises(DataError, match="none of the 4 pairs could be decoded"):
        PairedFolderDataset(tmp_path, 16)


def test_pairs_skips_duplicate_photos_so_holdout_never_repeats_training(tmp_path):
    photos = tmp_path / "photos"
    for index in range(5):
        _save(photos / f"p{index}.png", (32, 32, 3), seed=index)
    for copy in ("copy-a.png", "copy-b.png", "zz.png"):
        shutil.copy(photos / "p0.png", photos / copy)
    report = make_pairs("edges", photos, tmp_path / "pairs", resolution=16, holdout=2, workers=1)
    duplicates = [(name, detail) for name, reason, detail in report.skipped if reason == "duplicate"]
    assert len(duplicates) == 3 and report.written + report.holdout == 5
    held = {p.read_bytes() for p in (tmp_path / "pairs" / "holdout" / "B").iterdir()}
    trained = {p.read_bytes() for p in (tmp_path / "pairs" / "B").iterdir()}
    assert len(held) == 2 and len(trained) == 3 and not held & trained


def test_prepare_refuses_two_channels(photo_folder, tmp_path):
    with pytest.raises(ConfigError, match="--channels 2: must be 1"):
        prepare_dataset(photo_folder, tmp_path / "x.zip", resolution=16, channels=2, workers=0)
    assert not (tmp_path / "x.zip").exists()


def test_folder_skips_images_prepare_rejects_as_too_small(tmp_path):
    for index in range(3):
        _save(tmp_path / f"{index}.png", (40, 40, 3), seed=index)
    _save(tmp_path / "dot.png", (1, 1, 3), seed=7)
    _save(tmp_path / "strip.png", (4, 3000, 3), seed=8)
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable or too small image\(s\)") as caught:
        dataset = data.build(DataConfig(source=str(tmp_path), resolution=64))
    assert len(dataset) == 3
    text = str(caught[0].message)
    assert "dot.png is 1x1" in text and "strip.png is 3000x4" in text
    lazy = data.build(DataConfig(source=str(tmp_path), resolution=64), cache=False)
    with pytest.warns(UserWarning) as caught:
        image, _ = lazy[lazy.source.names.index("dot.png")]
    text = " ".join(str(warning.message) for warning in caught)
    assert "skipping unreadable image too small: dot.png is 1x1" in text and "strip.png is 3000x4" in text
    assert torch.equal(image, lazy[0][0])  # dot.png and strip.png passed over, on to 0.png
    report = prepare_dataset(tmp_path, tmp_path.parent / "same-rules.zip", resolution=64, workers=0)
    assert sorted(name for name, *_ in report.skipped) == ["dot.png", "strip.png"]
