import gzip
import hashlib
import json
import struct
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import data
from ganforge.config import DataConfig
from ganforge.data.images import ImageDecodeError, load_image, resize_center_crop, to_array
from ganforge.data.mnist import mnist, read_idx
from ganforge.data.prepare import prepare_dataset
from ganforge.data.sampler import batch_indices
from ganforge.download import fetch
from ganforge.errors import ConfigError, DataError

from ..conftest import labels_json, write_image


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "I;16", "CMYK"])
def test_every_mode_decodes_to_the_requested_shape(tmp_path, mode):
    path = write_image(tmp_path / f"x.{'jpg' if mode == 'CMYK' else 'png'}", mode, size=(50, 30))
    for channels in (1, 3):
        array = load_image(path, 16, channels)
        assert array.shape == (16, 16, channels) and array.dtype == np.uint8


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)).save(tmp_path / "w.png")
    Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16)).save(tmp_path / "g.png")
    assert load_image(tmp_path / "w.png", 8, 1).min() == 255
    assert 126 <= load_image(tmp_path / "g.png", 8, 1).mean() <= 129


def test_transparency_composites_on_white():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)  # fully transparent black
    assert to_array(Image.fromarray(rgba, "RGBA"), 3).min() == 255


def test_resize_keeps_the_centre():
    array = np.zeros((20, 40, 1), dtype=np.uint8)
    array[:, 10:30] = 255  # a white band in the middle third... of a wide image
    out = resize_center_crop(array, 10, None)
    assert out.shape == (10, 10, 1) and out.mean() > 200  # the centre crop is the white band


def test_corrupt_and_non_images_raise_with_reason(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageDecodeError) as corrupt:
        load_image(tmp_path / "bad.png", 8, 3)
    with pytest.raises(ImageDecodeError) as text:
        load_image(tmp_path / "text.png", 8, 3)
    assert {corrupt.value.reason, text.value.reason} <= {"corrupt", "not an image"}
    write_image(tmp_path / "small.png", "RGB", (6, 6))
    with pytest.raises(ImageDecodeError, match="too small"):
        load_image(tmp_path / "small.png", 64, 3, min_size=16)


def test_folder_dataset_labels_from_subfolders_and_skips_corrupt(photo_folder):
    with pytest.warns(UserWarning, match="broken.png"):
        dataset = data.build(DataConfig(source=str(photo_folder), resolution=16, cond=True))
    assert dataset.info.class_names == ("cats", "dogs")
    assert dataset.info.channels == 3
    assert len(dataset) == 7  # 8 image files, one corrupt; notes.txt is not listed
    images, labels = dataset.batch(torch.arange(len(dataset)))
    assert images.shape == (7, 3, 16, 16) and images.dtype == torch.uint8
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 1]


def test_lazy_folder_replaces_unreadable_file(photo_folder):
    dataset = data.build(DataConfig(source=str(photo_folder), resolution=8), cache=False)
    broken = dataset.source.names.index("dogs/broken.png")
    with pytest.warns(UserWarning, match="skipping unreadable image"):
        image, label = dataset[broken]
    assert image.shape == (3, 8, 8)


def test_labels_json_and_zip(tmp_path):
    root = tmp_path / "flat"
    for i in range(4):
        write_image(root / f"{i}.png", "L", seed=i)
    labels_json(root, {"0.png": "a", "1.png": "b", "2.png": "a", "3.png": "b"})
    archive = tmp_path / "flat.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in root.iterdir():
            z.write(p, p.name)
    for source in (root, archive):
        dataset = data.build(DataConfig(source=str(source), resolution=8, cond=True))
        assert dataset.info.class_names == ("a", "b") and dataset.info.channels == 1
        assert dataset.batch(torch.arange(4))[1].tolist() == [0, 1, 0, 1]
    labels_json(root, {"0.png": "a"})
    with pytest.raises(DataError, match="no label for 3"):
        data.build(DataConfig(source=str(root), resolution=8))


def test_clear_errors_for_bad_paths(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        data.build(DataConfig(source=str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        data.build(DataConfig(source=str(tmp_path / "empty")))
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_text("not really")
    with pytest.raises(DataError, match="could be decoded"):
        data.build(DataConfig(source=str(junk)))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError, match="zip"):
        data.build(DataConfig(source=str(tmp_path / "file.txt")))
    with pytest.raises(ConfigError, match="--cond needs labels"):
        data.build(DataConfig(source=str(tmp_path / "junk"), cond=True))
    with pytest.raises(ConfigError, match="celeba:PATH"):
        data.build(DataConfig(source="celeba:"))


@pytest.mark.slow
def test_builtin_datasets():
    digits = data.build(DataConfig(source="digits"))
    assert len(digits) == 1797 and digits.info.channels == 1 and digits.info.num_classes == 10
    stacked = data.build(DataConfig(source="stacked-digits", resolution=16))
    images, labels = stacked.batch(torch.arange(200))
    assert images.shape == (200, 3, 16, 16) and stacked.info.num_classes == 1000
    single = [stacked[i] for i in range(5)]
    assert [lab for _, lab in single] == labels[:5].tolist()
    assert torch.equal(torch.stack([im for im, _ in single]), images[:5])
    assert len(set(labels.tolist())) > 150  # many of the 1000 modes appear
    shapes = data.build(DataConfig(source="shapes", resolution=16))
    assert shapes.info.num_classes == 5 and shapes.info.channels == 3
    assert torch.equal(shapes.images, data.build(DataConfig(source="shapes", resolution=16)).images)  # deterministic
    lfw = data.build(DataConfig(source="lfw", resolution=32, cond=True))
    images, labels = lfw.batch(torch.arange(len(lfw)))
    assert images.shape == (200, 1, 32, 32) and lfw.info.class_names == ("face", "non-face")
    assert labels.tolist() == [0] * 100 + [1] * 100
    # photographs, not a constant or noise: faces have mid-tone spread and neighbouring pixels agree
    faces = images[:100].float()
    assert 30 < faces.std() < 90 and (faces[..., 1:] - faces[..., :-1]).abs().mean() < 20


def test_batch_order_is_a_resumable_function_of_its_arguments():
    full = batch_indices(10, 4, seed=3, start_batch=0)
    first = [next(full) for _ in range(6)]
    resumed = batch_indices(10, 4, seed=3, start_batch=3)
    assert all(torch.equal(a, next(resumed)) for a in first[3:])
    epoch = torch.cat(first)[:10]
    assert sorted(epoch.tolist()) == list(range(10))  # each epoch is a permutation
    ranks = [batch_indices(10, 4, 3, 0, rank=r, world=2) for r in range(2)]
    assert torch.equal(torch.cat([next(r) for r in ranks]), first[0])  # ranks split the global batch


def _idx(array: np.ndarray, code: int) -> bytes:
    return struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape) + array.tobytes()


def test_mnist_idx_parser_and_loader(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images, 0x08)))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels, 0x08)))
    assert np.array_equal(read_idx(tmp_path / "train-images-idx3-ubyte.gz"), images)
    # The loader verifies the official checksums, which files made here cannot match.
    with pytest.raises(DataError, match="md5"):
        mnist(32, root=tmp_path)
    (tmp_path / "short.idx").write_bytes(_idx(images, 0x08)[:-5])
    with pytest.raises(DataError, match="bytes"):
        read_idx(tmp_path / "short.idx")
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="magic"):
        read_idx(tmp_path / "bad.idx")


def test_fetch_verifies_checksums(tmp_path):
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"weights" * 100)
    good = hashlib.sha256(payload.read_bytes()).hexdigest()
    target = fetch([payload.as_uri()], tmp_path / "cache" / "w.bin", good)
    assert target.read_bytes() == payload.read_bytes()
    with pytest.raises(DataError, match="expected"):
        fetch([payload.as_uri()], tmp_path / "cache" / "other.bin", "0" * 64)
    assert not (tmp_path / "cache" / "other.bin").exists()  # a bad download is not kept
    with pytest.raises(DataError, match="place the file"):
        fetch([(tmp_path / "nowhere").as_uri()], tmp_path / "cache" / "x.bin", good)


def test_prepare_reports_every_skip_and_round_trips(photo_folder, tmp_path):
    write_image(photo_folder / "dogs" / "tiny.png", "RGB", (3, 3))
    out = tmp_path / "prepared.zip"
    report = prepare_dataset(photo_folder, out, resolution=16, workers=0)
    reasons = {name: reason for name, reason, _ in report.skipped}
    assert reasons == {"dogs/broken.png": "corrupt", "cats/notes.txt": "not an image", "dogs/tiny.png": "too small"}
    assert report.converted == 7 and report.class_names == ("cats", "dogs")
    dataset = data.build(DataConfig(source=str(out), cond=True))
    assert dataset.info.resolution == 16 and dataset.info.class_names == ("cats", "dogs")
    assert sorted(dataset.batch(torch.arange(7))[1].tolist()) == [0, 0, 0, 1, 1, 1, 1]
    meta = json.loads(zipfile.ZipFile(out).read("dataset.json"))
    assert set(meta["sources"].values()) == {
        "cats/a.png",
        "cats/b.jpg",
        "cats/c.png",
        "dogs/d.png",
        "dogs/e.png",
        "dogs/f.bmp",
        "dogs/g.webp",
    }
    with pytest.raises(DataError, match="--strict"):
        prepare_dataset(photo_folder, tmp_path / "strict.zip", resolution=16, strict=True, workers=0)
    assert not (tmp_path / "strict.zip").exists()


def test_celeba_layout_and_crop(tmp_path):
    faces = tmp_path / "celeba" / "img_align_celeba"
    faces.mkdir(parents=True)
    array = np.zeros((218, 178, 3), dtype=np.uint8)
    array[39:179, 19:159] = 200  # the central 140x140 face region is bright, the rest black
    for i in range(3):
        Image.fromarray(array).save(faces / f"{i:06d}.png")
    dataset = data.build(DataConfig(source=f"celeba:{tmp_path / 'celeba'}", resolution=16))
    images, _ = dataset.batch(torch.arange(3))
    assert images.shape == (3, 3, 16, 16) and dataset.info.name.startswith("celeba:")
    assert images.float().mean() > 190  # only the face crop is used


def test_grayscale_folder_trains_with_one_channel(tmp_path):
    for i in range(3):
        write_image(tmp_path / "g" / f"{i}.png", "L", seed=i)
    assert data.build(DataConfig(source=str(tmp_path / "g"), resolution=8)).info.channels == 1
    with pytest.raises(ConfigError, match="--channels 3"):
        data.build(DataConfig(source="digits", channels=3))


def test_subset_is_a_fixed_seeded_choice():
    full = data.build(DataConfig(source="digits"))
    small = data.build(DataConfig(source="digits", subset=100))
    assert len(small) == 100
    images, labels = small.batch(torch.arange(100))
    assert torch.equal(images, data.build(DataConfig(source="digits", subset=100)).batch(torch.arange(100))[0])
    assert torch.equal(images[0], full[int(small.indices[0])][0])
    with pytest.raises(ConfigError, match="--subset"):
        data.build(DataConfig(source="digits", subset=5000))


@pytest.mark.slow
def test_each_in_memory_set_holds_what_its_entry_says():
    """Issue 25: the built-in sets held in memory are registered from one table whose sizes give the memory
    estimate; each entry matches the image bytes its set holds (lfw included; mnist needs a download)."""
    from ganforge.data import DATASETS, IN_MEMORY_SETS, memory_estimate

    for name in IN_MEMORY_SETS:
        if name == "mnist":
            continue
        dataset = DATASETS.get(name)(None, 8, None)
        held = sum(t.numel() for t in vars(dataset).values() if isinstance(t, torch.Tensor) and t.dtype == torch.uint8)
        assert memory_estimate(DataConfig(source=name, resolution=8)) == held, name
    assert memory_estimate(DataConfig(source="lfw", resolution=64)) == 200 * 64 * 64
