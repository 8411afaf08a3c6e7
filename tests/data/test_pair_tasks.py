import json
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from ganforge.data.degradations import PAIR_TASKS, edges_canny, edges_xdog
from ganforge.data.pair_tasks import make_pairs, pair_rng, pair_stems
from ganforge.errors import ConfigError, DataError

from ..conftest import write_image

CHANNELS = {"edges": 1, "denoise": 3, "rain": 3, "superres": 3, "repair": 3, "colorize": 1, "cartoon": 3}
RANDOM_TASKS = ("denoise", "rain", "repair")


def scene(height=48, width=64) -> np.ndarray:
    """A structured photo: a colour gradient with a filled circle and a rectangle."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = Image.fromarray(np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 90)], 2).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, 30, 30), fill=(240, 220, 40))
    draw.rectangle((38, 14, 56, 40), fill=(20, 30, 160))
    return np.asarray(image).copy()


def white_square(size=64, lo=16, hi=48) -> np.ndarray:
    photo = np.zeros((size, size, 3), dtype=np.uint8)
    photo[lo:hi, lo:hi] = 255
    return photo


@pytest.fixture
def photos(tmp_path):
    """Four good photos (two structured, two random, one in a sub-folder), a corrupt PNG and a text file."""
    root = tmp_path / "src"
    root.mkdir()
    Image.fromarray(scene()).save(root / "scene.png")
    Image.fromarray(white_square()).save(root / "square.jpg")
    write_image(root / "noise.png", "RGB", (50, 40), seed=1)
    write_image(root / "sub" / "gray.png", "L", (40, 40), seed=2)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (root / "notes.txt").write_text("not an image")
    return root


def test_registry_has_the_documented_tasks():
    assert set(PAIR_TASKS.names()) == set(CHANNELS)


@pytest.mark.parametrize("task", sorted(CHANNELS))
def test_task_keeps_size_and_documented_channels(task):
    photo = scene()
    made = PAIR_TASKS.get(task)(photo, pair_rng(0, 0))
    assert made.shape == (48, 64, CHANNELS[task]) and made.dtype == np.uint8
    assert np.array_equal(made, PAIR_TASKS.get(task)(photo, pair_rng(0, 0)))  # same seed, same A
    if task in RANDOM_TASKS:
        assert not np.array_equal(made, PAIR_TASKS.get(task)(photo, pair_rng(1, 0)))
        assert not np.array_equal(made, PAIR_TASKS.get(task)(photo, pair_rng(0, 1)))


def test_colorize_is_bt601_luma():
    photo = scene()
    gray = PAIR_TASKS.get("colorize")(photo, pair_rng(0, 0))[:, :, 0].astype(int)
    reference = np.asarray(Image.fromarray(photo).convert("L"), dtype=int)  # PIL's ITU-R 601-2 luma
    assert np.abs(gray - reference).max() <= 1


@pytest.mark.parametrize("factor", [2, 4])
def test_superres_stays_aligned_with_the_photo(factor):
    photo = scene()
    low = PAIR_TASKS.get("superres")(photo, pair_rng(0, 0), factor=factor).astype(float)
    blur = lambda image: ndimage.gaussian_filter(image.astype(float), (factor, factor, 0))  # noqa: E731
    aligned = np.abs(blur(low) - blur(photo)).mean()
    shifted = np.abs(blur(np.roll(low, 3, axis=1)) - blur(photo)).mean()
    assert aligned < 6 and aligned < shifted / 2
    with pytest.raises(ConfigError, match="factor"):
        PAIR_TASKS.get("superres")(photo, pair_rng(0, 0), factor=3)


@pytest.mark.parametrize("method", [edges_xdog, edges_canny])
def test_edges_of_a_square_lie_on_its_border(method):
    photo = white_square()
    lines = method(photo, pair_rng(0, 0))[:, :, 0] < 128
    square = white_square()[:, :, 0] > 0
    border = ndimage.binary_dilation(square) ^ ndimage.binary_erosion(square)  # the pixels either side of it
    distance = ndimage.distance_transform_edt(~border)
    assert lines.any() and distance[lines].max() <= 2  # nothing away from the border
    near_line = ndimage.binary_dilation(lines, iterations=2)
    assert near_line[border].mean() > 0.9  # and the border is drawn nearly all round


def test_edges_default_and_canny_option():
    photo = scene()
    assert np.array_equal(PAIR_TASKS.get("edges")(photo, pair_rng(0, 0)), edges_xdog(photo))
    assert np.array_equal(PAIR_TASKS.get("edges")(photo, pair_rng(0, 0), method="canny"), edges_canny(photo))
    flat = np.full((32, 32, 3), 128, dtype=np.uint8)
    assert PAIR_TASKS.get("edges")(flat, pair_rng(0, 0)).min() == 255  # nothing to draw, nothing drawn


def test_make_pairs_folders_with_skip_report(photos, tmp_path):
    out = tmp_path / "pairs"
    report = make_pairs("colorize", photos, out, resolution=32, seed=3)
    assert (report.written, report.holdout) == (4, 0)
    names = {p.name for p in (out / "A").iterdir()}
    assert names == {p.name for p in (out / "B").iterdir()} == {"scene.png", "square.png", "noise.png", "sub_gray.png"}
    reasons = {name: reason for name, reason, _ in report.skipped}
    assert set(reasons) == {"broken.png", "notes.txt"}
    assert reasons["broken.png"] in ("corrupt", "not an image") and reasons["notes.txt"] == "not an image"
    a = np.asarray(Image.open(out / "A" / "scene.png"))
    b = np.asarray(Image.open(out / "B" / "scene.png"))
    assert a.shape == (32, 32) and b.shape == (32, 32, 3)
    assert np.abs(a.astype(int) - np.asarray(Image.fromarray(b).convert("L"), dtype=int)).max() <= 1
    meta = json.loads((out / "pairs.json").read_text())
    assert (meta["task"], meta["seed"], meta["resolution"]) == ("colorize", 3, 32)
    assert (meta["written"], meta["holdout"]) == (4, 0)
    assert {entry["file"] for entry in meta["skipped"]} == {"broken.png", "notes.txt"}


def test_make_pairs_holdout_side_by_side_and_determinism(photos, tmp_path):
    report = make_pairs("rain", photos, tmp_path / "sbs", resolution=32, seed=5, holdout=2, layout="side-by-side")
    assert (report.written, report.holdout) == (2, 2)
    train = {p.name for p in (tmp_path / "sbs").glob("*.png")}
    held = {p.name for p in (tmp_path / "sbs" / "holdout").glob("*.png")}
    assert len(train) == 2 and len(held) == 2 and not train & held
    # each pair depends only on (seed, its index): the same as in a run without holdout, in folders layout
    make_pairs("rain", photos, tmp_path / "plain", resolution=32, seed=5)
    for name in train | held:
        folder = tmp_path / "sbs" / ("holdout" if name in held else "")
        ab = np.asarray(Image.open(folder / name))
        assert ab.shape == (32, 64, 3)
        assert np.array_equal(ab[:, :32], np.asarray(Image.open(tmp_path / "plain" / "A" / name)))
        assert np.array_equal(ab[:, 32:], np.asarray(Image.open(tmp_path / "plain" / "B" / name)))
    # the same seed picks the same holdout; a rerun into the same folder drops pairs it no longer makes
    again = make_pairs("rain", photos, tmp_path / "sbs", resolution=32, seed=5, holdout=2, layout="side-by-side")
    assert {p.name for p in (tmp_path / "sbs" / "holdout").glob("*.png")} == held and again.holdout == 2
    make_pairs("rain", photos, tmp_path / "sbs", resolution=32, seed=5, layout="side-by-side")
    assert not list((tmp_path / "sbs" / "holdout").glob("*.png")) and len(list((tmp_path / "sbs").glob("*.png"))) == 4


def test_side_by_side_gray_a_becomes_three_channels(photos, tmp_path):
    make_pairs("edges", photos, tmp_path / "e", resolution=32, layout="side-by-side")
    ab = np.asarray(Image.open(tmp_path / "e" / "square.png"))
    assert ab.shape == (32, 64, 3) and np.array_equal(ab[:, :32, 0], ab[:, :32, 2])


def test_make_pairs_from_a_zip_keeps_size_when_asked(tmp_path):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, array in (("a/x.png", scene()), ("x.png", white_square(40))):
            buffer = tmp_path / "tmp.png"
            Image.fromarray(array).save(buffer)
            zf.write(buffer, name)
        zf.writestr("readme.md", "hello")
    report = make_pairs("superres", archive, tmp_path / "out", resolution=None, options={"factor": 2})
    assert report.written == 2 and [s[0] for s in report.skipped] == ["readme.md"]
    assert np.asarray(Image.open(tmp_path / "out" / "A" / "a_x.png")).shape == (48, 64, 3)
    assert np.asarray(Image.open(tmp_path / "out" / "B" / "x.png")).shape == (40, 40, 3)


def test_output_names_never_collide():
    assert pair_stems(["a/b.png", "a_b.png", "x.jpg", "x.png", "x_png.bmp"]) == [
        "a_b",
        "a_b_png",
        "x",
        "x_png",
        "x_png_bmp",
    ]
    stems = pair_stems(["a_b.png", "a/b.png", "a/b.jpg", "a_b_png.png"])
    assert len(set(stems)) == 4


def test_clear_errors(photos, tmp_path):
    with pytest.raises(DataError, match="no such file"):
        make_pairs("edges", tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        make_pairs("edges", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(DataError, match="colorize.*edges"):  # the registry names the choices
        make_pairs("watercolour", photos, tmp_path / "out")
    for inside in (photos, photos / "pairs"):
        with pytest.raises(DataError, match="inside the source"):
            make_pairs("edges", photos, inside)
    with pytest.raises(ConfigError, match="layout"):
        make_pairs("edges", photos, tmp_path / "out", layout="grid")
    with pytest.raises(ConfigError, match="holdout"):
        make_pairs("edges", photos, tmp_path / "out", holdout=5)
    with pytest.raises(ConfigError, match="option"):
        make_pairs("colorize", photos, tmp_path / "out", options={"factor": 2})
    assert not (tmp_path / "out").exists()
