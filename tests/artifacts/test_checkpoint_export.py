"""Checkpoints and exports: safe loading, clear errors, and identical images from every format."""

import errno
import json
import os

import numpy as np
import pytest
import torch

import ganforge
from ganforge.artifacts import checkpoint as ckpt
from ganforge.errors import CheckpointError
from ganforge.training import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    settings = {
        "data.source": "shapes",
        "data.resolution": 16,
        "model.g_channels": 16,
        "model.d_channels": 16,
        "train.batch": 16,
        "train.total_kimg": 0.064,
        "train.snapshot_every_kimg": 1,
        "train.grid_size": 4,
        "data.cond": True,
        "train.out": str(out),
    }
    return train(overrides=settings, progress=False)


@pytest.mark.slow
def test_export_and_checkpoint_generate_the_same_images(trained, tmp_path):
    from_ckpt = ganforge.load(trained.checkpoint)
    folder = ganforge.export(trained.checkpoint, tmp_path / "exported")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "generator.safetensors"]
    from_export = ganforge.load(folder)
    assert np.array_equal(from_ckpt.generate(6, seed=3), from_export.generate(6, seed=3))
    assert from_export.num_classes == 5 and from_export.dataset.class_names[0] == "circle"
    assert json.loads((folder / "config.json").read_text())["model"]["name"] == "dcgan"


def test_generate_is_per_seed_and_batch_independent(trained):
    generator = ganforge.load(trained.run_dir)  # a run folder means its newest checkpoint
    images = generator.generate(5, seed=10, classes=2)
    assert images.shape == (5, 16, 16, 3) and images.dtype == np.uint8
    assert np.array_equal(images[2:], generator.generate(3, seed=12, classes=2, batch_size=2))
    assert not np.array_equal(images[0], images[1])
    with pytest.raises(ganforge.ConfigError, match="--class"):
        generator.generate(2, classes=9)


def test_describe(trained):
    details = ganforge.describe(trained.checkpoint)
    assert details["model"] == "dcgan" and details["resolution"] == 16 and details["kimg"] == pytest.approx(0.064)
    assert details["dataset"] == "shapes" and len(details["classes"]) == 5


def test_truncated_checkpoint_is_a_clear_error(trained, tmp_path):
    data = trained.checkpoint.read_bytes()
    broken = tmp_path / "checkpoint-00000001.pt"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        ckpt.load(broken)
    with pytest.raises(CheckpointError, match="does not exist"):
        ckpt.load(tmp_path / "nope.pt")


class Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_pickled_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "ganforge-checkpoint", "format_version": 1, "G": Payload()}, path)
    with pytest.raises(CheckpointError, match="pickled"):
        ckpt.load(path)
    assert "pickled code ran" not in capsys.readouterr().out


def test_other_formats_are_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match="not a ganforge checkpoint"):
        ckpt.load(path)
    torch.save({"format": "ganforge-checkpoint", "format_version": 99}, path)
    with pytest.raises(CheckpointError, match="version 99"):
        ckpt.load(path)
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "generator.safetensors").write_bytes(b"junk")
    (tmp_path / "export" / "config.json").write_text(json.dumps({"format": "ganforge-generator", "format_version": 1}))
    with pytest.raises(CheckpointError, match="safetensors"):
        ganforge.load(tmp_path / "export")


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = ckpt.save({"x": torch.ones(2)}, tmp_path, step=1, keep=3)
    original = path.read_bytes()

    def exploding_save(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", exploding_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save({"x": torch.zeros(2)}, tmp_path, step=1, keep=3)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="disk_full finds files through /proc")
def test_checkpoint_write_on_a_full_disk_names_the_file_and_keeps_the_old_ones(tmp_path, disk_full):
    old = [ckpt.save({"x": torch.ones(1000)}, tmp_path, step=step, keep=2) for step in (1, 2)]
    before = [path.read_bytes() for path in old]
    disk_full(".checkpoint-", room=600)  # torch.save's own zip writer fails mid-archive
    with pytest.raises(OSError) as failure:
        ckpt.save({"x": torch.zeros(1000)}, tmp_path, step=3, keep=2)
    assert failure.value.errno == errno.ENOSPC and failure.value.filename == str(tmp_path / ckpt.checkpoint_name(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in old]  # no temp file, nothing rotated away
    assert [path.read_bytes() for path in old] == before


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="disk_full finds files through /proc")
def test_export_on_a_full_disk_leaves_no_folder(trained, tmp_path, disk_full):
    disk_full("config.json")  # the weights fit, their config.json does not
    with pytest.raises(OSError) as failure:
        ganforge.export(trained.checkpoint, tmp_path / "new" / "export")
    assert failure.value.errno == errno.ENOSPC and failure.value.filename.endswith("config.json")
    assert list(tmp_path.iterdir()) == []
