"""The project / directions / edit commands on exported generators: the files they write, and one-line errors (exit
1, no traceback) for a pix2pix model, a non-image, another model's latent, bad strengths and layers."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ganforge.cli import main

from .conftest import DCGAN, STYLE, random_generator, save_export


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    return {
        name: save_export(random_generator(name, **options), root / name)
        for name, options in (("stylegan2", STYLE), ("dcgan", DCGAN), ("pix2pix", {"g_channels": 4}))
    }


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def labelled_under_each_tile(picture: np.ndarray, tiles: int, side: int = 128) -> None:
    """The white band under a row of `tiles` enlarged tiles holds dark label text under every tile."""
    band = picture[side + 4 :]
    assert band.shape[0] == 18
    for index in range(tiles):
        assert band[:, 2 + index * (side + 2) : (index + 1) * (side + 2)].min() < 128


@pytest.mark.slow
def test_project_directions_edit_end_to_end(exports, tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photo)
    result = run(
        "project",
        exports["stylegan2"],
        photo,
        "--out",
        tmp_path / "proj",
        "--steps",
        6,
        "--gif",
        "--space",
        "w+",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert "pixel-ssim" in result.output and "PSNR" in result.output and "SSIM" in result.output
    preview = np.asarray(Image.open(tmp_path / "proj" / "proj.png").convert("L"))
    assert preview.shape == (128 + 2 * 2 + 18, 2 * 128 + 3 * 2)  # target | reconstruction, 16 px enlarged 8x
    tile = preview[2:130, 2:130]
    assert np.array_equal(tile, np.repeat(np.repeat(tile[::8, ::8], 8, 0), 8, 1))  # nearest neighbour: sharp blocks
    labelled_under_each_tile(preview, 2)
    assert Image.open(tmp_path / "proj" / "proj.gif").n_frames > 1
    result = run("directions", exports["stylegan2"], "--method", "sefa", "--num", 3, "--out", tmp_path / "dirs.npz")
    assert result.exit_code == 0 and "eigenvalues" in result.output, result.output
    result = run(
        "edit",
        exports["stylegan2"],
        "--latent",
        tmp_path / "proj" / "latent.npz",
        "--direction",
        f"{tmp_path / 'dirs.npz'}:sefa1",
        "--strength",
        "-2:2:5",
        "--layers",
        "0-2",
        "--out",
        tmp_path / "e.png",
    )
    assert result.exit_code == 0, result.output
    strip = np.asarray(Image.open(tmp_path / "e.png").convert("L"))
    assert strip.shape == (128 + 2 * 2 + 18, 5 * 128 + 6 * 2)
    labelled_under_each_tile(strip, 5)
    result = run(
        "edit", exports["stylegan2"], "--seed", 3, "--direction", tmp_path / "dirs.npz", "--out", tmp_path / "seed.png"
    )
    assert result.exit_code == 0 and (tmp_path / "seed.png").is_file(), result.output


def test_several_photos_get_a_folder_each(exports, tmp_path):
    photos = [tmp_path / f"{name}.png" for name in ("a", "b")]
    for index, path in enumerate(photos):
        Image.new("L", (20, 20), 40 * index).save(path)
    result = run("project", exports["dcgan"], *photos, "--out", tmp_path / "many", "--steps", 3)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["000-a", "001-b"]
    assert (tmp_path / "many" / "001-b" / "latent.npz").is_file()


def test_bad_input_gets_one_line_errors(exports, tmp_path):
    photo = tmp_path / "p.png"
    Image.new("RGB", (16, 16)).save(photo)
    (tmp_path / "notes.png").write_text("not an image")
    one_line_error(run("project", exports["pix2pix"], photo, "--out", tmp_path / "x"), "image-to-image")
    one_line_error(run("project", exports["stylegan2"], tmp_path / "notes.png", "--out", tmp_path / "x"), "notes.png")
    one_line_error(run("project", exports["dcgan"], photo, "--out", tmp_path / "x", "--space", "w+"), "--space w+")
    assert run("project", exports["dcgan"], photo, "--out", tmp_path / "dc", "--steps", 2).exit_code == 0
    assert run("directions", exports["dcgan"], "--num", 2, "--out", tmp_path / "dc.npz").exit_code == 0
    run("directions", exports["stylegan2"], "--num", 2, "--out", tmp_path / "sg.npz")
    one_line_error(
        run(
            "edit",
            exports["stylegan2"],
            "--latent",
            tmp_path / "dc" / "latent.npz",
            "--direction",
            tmp_path / "sg.npz",
            "--out",
            tmp_path / "e.png",
        ),
        "--latent",
        "another model",
    )
    one_line_error(
        run("edit", exports["stylegan2"], "--seed", 1, "--direction", tmp_path / "dc.npz", "--out", tmp_path / "e.png"),
        "--direction",
        "another model",
    )
    one_line_error(
        run(
            "edit",
            exports["stylegan2"],
            "--seed",
            1,
            "--direction",
            tmp_path / "sg.npz",
            "--strength",
            "3:1",
            "--out",
            tmp_path / "e.png",
        ),
        "--strength 3:1",
    )
    one_line_error(
        run(
            "edit",
            exports["stylegan2"],
            "--seed",
            1,
            "--direction",
            tmp_path / "sg.npz",
            "--layers",
            "2-40",
            "--out",
            tmp_path / "e.png",
        ),
        "--layers 2-40",
        "out of range",
    )
    one_line_error(
        run(
            "edit",
            exports["dcgan"],
            "--seed",
            1,
            "--direction",
            tmp_path / "dc.npz",
            "--layers",
            "0-1",
            "--out",
            tmp_path / "e.png",
        ),
        "--layers",
    )
    one_line_error(
        run(
            "edit",
            exports["stylegan2"],
            "--seed",
            1,
            "--latent",
            tmp_path / "dc" / "latent.npz",
            "--direction",
            tmp_path / "sg.npz",
            "--out",
            tmp_path / "e.png",
        ),
        "exactly one of",
    )
    one_line_error(
        run(
            "edit", exports["stylegan2"], "--seed", 1, "--direction", tmp_path / "sg.npz:7", "--out", tmp_path / "e.png"
        ),
        "no such direction",
    )
    one_line_error(run("directions", exports["pix2pix"], "--out", tmp_path / "p.npz"), "image-to-image")
    usage = run("directions", exports["stylegan2"], "--method", "sefa", "--classifier", "digits:3", "--out", "d.npz")
    assert usage.exit_code == 2 and "--classifier" in usage.output
    assert run("edit", exports["stylegan2"], "--seed", 1, "--direction", "d.npz", "--out", "e.jpg").exit_code == 2
    assert not (tmp_path / "e.png").exists()
