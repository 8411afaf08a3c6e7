"""Regression tests for issue 16 at the command line: classes by name, bounded seed lists, image formats by file
name, truncation range, batched --outdir, tile progress and the pixel cap of translate, and one-line warnings."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.cli.options import MAX_SEEDS, seed_list

from .exports import SHAPES, standard_exports


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return standard_exports(tmp_path_factory.mktemp("exports"))


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def _png_arrays(folder):
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.iterdir())])


def test_class_names_and_indices_one_for_all_or_one_per_image(exports, tmp_path):
    generator = ganforge.load(exports["cond"])
    result = run("sample", exports["cond"], "--num", "3", "--seed", "4", "--class", "circle,star,1",
                 "--outdir", tmp_path / "mixed")
    assert result.exit_code == 0, result.output
    expected = generator.generate(3, seed=4, classes=[0, 3, 1])
    assert np.array_equal(_png_arrays(tmp_path / "mixed"), expected)
    assert not np.array_equal(expected, generator.generate(3, seed=4, classes=0))  # the classes matter
    for choice in ("square", "1"):
        assert run("sample", exports["cond"], "--num", "2", "--class", choice, "--outdir", tmp_path / choice).exit_code == 0
    assert np.array_equal(_png_arrays(tmp_path / "square"), _png_arrays(tmp_path / "1"))
    walks = {}
    for choice in ("ring", str(SHAPES.index("ring"))):
        out = tmp_path / f"walk-{choice}.gif"
        assert run("interpolate", exports["cond"], "--seeds", "1,2", "--frames", "4", "--class", choice, "--out",
                   out).exit_code == 0
        walks[choice] = out.read_bytes()
    assert walks["ring"] == walks["4"]


def test_labels_for_errors_name_the_problem(exports):
    generator = ganforge.load(exports["cond"])
    with pytest.raises(ganforge.ConfigError, match=r"--class: 'cow' is not a class of this model; classes: circle, "
                                                   r"square, triangle, star, ring$"):
        generator.labels_for(2, "cow")
    with pytest.raises(ganforge.ConfigError, match="--class: 4 values for --num 3"):
        generator.labels_for(3, [0, 1, 2, 3])
    assert generator.labels_for(2, ["ring", 0]).tolist() == [4, 0]


def test_seed_lists_are_bounded_before_they_are_expanded():
    assert len(seed_list(None, None, f"0-{MAX_SEEDS - 1}")) == MAX_SEEDS
    assert seed_list(None, None, "3,0-2") == [3, 0, 1, 2]
    import click
    with pytest.raises(click.BadParameter, match=f"names {MAX_SEEDS + 1} seeds"):
        seed_list(None, None, f"0-{MAX_SEEDS - 1},7")


@pytest.mark.parametrize("name, image_format", [("g.png", "PNG"), ("g.jpg", "JPEG"), ("g.JPEG", "JPEG"),
                                                ("g.webp", "WEBP"), ("g.gif", "GIF")])
def test_grid_is_written_in_the_format_its_name_asks_for(exports, tmp_path, name, image_format):
    assert run("sample", exports["plain"], "--num", "4", "--grid", tmp_path / name).exit_code == 0
    assert Image.open(tmp_path / name).format == image_format


def test_mix_and_translate_write_the_format_of_their_names(exports, tmp_path):
    assert run("mix", exports["styles"], "--rows", "1,2", "--cols", "3", "--out", tmp_path / "m.gif").exit_code == 0
    assert Image.open(tmp_path / "m.gif").format == "GIF"
    Image.fromarray(np.zeros((20, 30), dtype=np.uint8)).save(tmp_path / "sketch.png")
    assert run("translate", exports["p2p"], tmp_path / "sketch.png", "--out", tmp_path / "t.jpg").exit_code == 0
    with Image.open(tmp_path / "t.jpg") as image:
        assert image.format == "JPEG" and image.size == (30, 20)


def test_truncation_range_ends_are_accepted(exports, tmp_path):
    for psi in ("0", "2"):
        assert run("sample", exports["plain"], "--num", "2", "--truncation", psi, "--grid",
                   tmp_path / f"t{psi}.png").exit_code == 0


def test_outdir_is_written_a_batch_at_a_time(exports, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules["ganforge.cli.sample"], "OUTDIR_BATCH", 4)
    result = run("sample", exports["cond"], "--num", "10", "--seed", "5", "--outdir", tmp_path / "each")
    assert result.exit_code == 0, result.output
    # classes cycle over the whole run (0, 1, 2, 3, 4, 0, ...), not per batch
    assert np.array_equal(_png_arrays(tmp_path / "each"), ganforge.load(exports["cond"]).generate(10, seed=5))


@pytest.mark.slow
def test_translate_shows_tile_progress_and_caps_pixels(exports, tmp_path, monkeypatch):
    Image.fromarray(np.full((120, 120), 128, dtype=np.uint8)).save(tmp_path / "large.png")
    result = run("translate", exports["p2p"], tmp_path / "large.png", "--out", tmp_path / "out.png")
    assert result.exit_code == 0 and "0/100 [" in result.output and "tile/s" in result.output  # 10 x 10 tiles: a bar
    Image.fromarray(np.full((40, 40), 128, dtype=np.uint8)).save(tmp_path / "small.png")
    result = run("translate", exports["p2p"], tmp_path / "small.png", "--out", tmp_path / "small-out.png")
    assert result.exit_code == 0 and "tile/s" not in result.output and "it/s" not in result.output  # 9 tiles: no bar
    monkeypatch.setattr(sys.modules["ganforge.translate"], "MAX_PIXELS", 100 * 100)
    result = run("translate", exports["p2p"], tmp_path / "large.png", "--out", tmp_path / "refused.png")
    assert result.exit_code == 1 and "120x120" in result.output and "more than the" in result.output
    assert not (tmp_path / "refused.png").exists()


@pytest.mark.slow
def test_training_on_a_folder_skips_what_prepare_rejects_with_a_one_line_warning(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(8):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    Image.new("RGB", (1, 1)).save(folder / "dot.png")
    Image.new("RGB", (3000, 4)).save(folder / "strip.png")
    result = run("train", "--data", folder, "--resolution", "32", "--g-channels", "8", "--d-channels", "8",
                 "--batch", "8", "--kimg", "0.008", "--snapshot-kimg", "1", "--grid", "4", "--no-progress",
                 "--out", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("warning: skipped 2")]
    assert warning and "UserWarning" not in result.output and ".py:" not in result.output
    assert "dot.png is 1x1" in result.output and "strip.png is 3000x4" in result.output  # sides under 32 / 4
