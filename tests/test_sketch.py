"""Sketch normalisation (sketch.py): the line width and polarity of a model's training inputs are measured when
paired data is built, travel with the model, and thin or inverted drawings are redrawn to match before translating."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganforge import models
from ganforge.artifacts.exported import describe_export, write_export
from ganforge.artifacts.generator import LoadedGenerator, load
from ganforge.cli import main
from ganforge.config import DataConfig, resolve
from ganforge.data import build
from ganforge.data.base import DatasetInfo
from ganforge.data.degradations import edges_canny
from ganforge.families import Task
from ganforge.sketch import LineStats, measure_lines, normalize_sketch
from ganforge.studio.render import translate_image
from ganforge.translation import translate

XDOG_LIKE = LineStats(width_px=3.0, dark_lines=True, ink_share=0.1)


def thin_drawing(size=(64, 64), dark_lines=True) -> np.ndarray:
    """A 1-px cross and a 1-px diagonal, uint8 [H, W]."""
    height, width = size
    image = np.full(size, 255, np.uint8)
    image[height // 3, 5 : width - 5] = 0
    image[5 : height - 5, width // 2] = 0
    for i in range(5, min(size) - 5):
        image[i, i] = 0
    return image if dark_lines else 255 - image


def test_built_in_edge_pairs_record_their_lines_and_photos_do_not():
    info = build(DataConfig(source="shapes-edges", resolution=32), task=Task.PAIRED).info
    assert info.input_lines is not None and info.input_lines.dark_lines
    assert 2.0 <= info.input_lines.width_px <= 3.5  # XDoG strokes at 32 px
    assert DatasetInfo.from_dict(info.to_dict()) == info  # saved in checkpoints and exports
    rng = np.random.default_rng(0)
    assert measure_lines(rng.integers(0, 256, (4, 32, 32)).astype(float)) is None  # a photo is no line drawing
    assert measure_lines(np.full((32, 32), 255.0)) is None  # nor an empty page


def test_line_width_is_measured_in_pixels_whatever_the_direction():
    assert measure_lines(thin_drawing().astype(float)).width_px == pytest.approx(1.0, abs=0.15)
    thick = normalize_sketch(thin_drawing(), LineStats(5.0, True, 0.1))
    assert measure_lines(thick.astype(float)).width_px == pytest.approx(5.0, abs=1.0)
    canny = edges_canny(np.asarray(Image.fromarray(thin_drawing()).convert("RGB")))
    assert measure_lines(canny[..., 0].astype(float)).width_px < 1.6  # Canny's 1-px contours stay 1 px


def test_thin_and_inverted_drawings_are_redrawn_like_the_training_lines():
    for drawing in (thin_drawing(), thin_drawing(dark_lines=False)):
        fixed = normalize_sketch(drawing[..., None], XDOG_LIKE)  # [H, W, 1] as translate reads a grey file
        found = measure_lines(fixed[..., 0].astype(float))
        assert fixed.shape == (64, 64, 1) and found.dark_lines
        assert abs(found.width_px - XDOG_LIKE.width_px) <= 1.0
    thick = normalize_sketch(thin_drawing(), LineStats(5.0, True, 0.1))
    assert normalize_sketch(thick, XDOG_LIKE) is thick  # already as thick or thicker: left alone
    photo = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert normalize_sketch(photo, XDOG_LIKE) is photo
    big = normalize_sketch(thin_drawing((256, 256)), XDOG_LIKE, scale=4.0)  # to be shrunk 4x afterwards
    assert measure_lines(big.astype(float)).width_px == pytest.approx(12.0, rel=0.25)  # line ends count too


@pytest.fixture
def edge_model(tmp_path):
    """An export of a tiny (untrained) 1 -> 3 channel pix2pix whose data recorded XDOG_LIKE lines."""
    info = DatasetInfo("edges", 16, 3, (), 1, input_lines=XDOG_LIKE)
    model = resolve({"model.name": "pix2pix", "model.g_channels": 4}).model
    torch.manual_seed(0)
    module = models.build_generator(model, info, 0).eval()
    generator = LoadedGenerator(module, model, info, 0, 0.0, {}, "edges")
    return write_export(tmp_path / "export", module.state_dict(), describe_export(generator))


def test_translate_normalises_by_default_and_the_flag_turns_it_off(edge_model, tmp_path):
    assert load(edge_model).dataset.input_lines == XDOG_LIKE
    Image.fromarray(thin_drawing((40, 40))).save(tmp_path / "thin.png")
    on = translate(edge_model, tmp_path / "thin.png", tmp_path / "on.png", backend="torch")
    off = translate(edge_model, tmp_path / "thin.png", tmp_path / "off.png", backend="torch", normalize_sketch=False)
    assert on.normalized == 1 and off.normalized == 0
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "on.png")), np.asarray(Image.open(tmp_path / "off.png")))
    result = CliRunner().invoke(
        main,
        [
            "translate",
            str(edge_model),
            str(tmp_path / "thin.png"),
            "--out",
            str(tmp_path / "cli.png"),
            "--backend",
            "torch",
            "--no-normalize-sketch",
        ],
    )
    assert result.exit_code == 0 and "redrawn" not in result.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "cli.png")), np.asarray(Image.open(tmp_path / "off.png")))
    result = CliRunner().invoke(
        main,
        [
            "translate",
            str(edge_model),
            str(tmp_path / "thin.png"),
            "--out",
            str(tmp_path / "cli.png"),
            "--backend",
            "torch",
        ],
    )
    assert result.exit_code == 0 and "1 line drawing(s) redrawn" in result.output


def test_studio_sketch_path_normalises_the_drawing(edge_model):
    generator = load(edge_model)
    drawing = thin_drawing((64, 64))[..., None]
    sketch = translate_image(generator, drawing, fit=True)
    plain = translate_image(
        LoadedGenerator(generator.module, generator.model, DatasetInfo("edges", 16, 3, (), 1), 0, 0.0, {}, "no lines"),
        drawing,
        fit=True,
    )
    assert sketch.shape == plain.shape == (64, 64, 3) and not np.array_equal(sketch, plain)
