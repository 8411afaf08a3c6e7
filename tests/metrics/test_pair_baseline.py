"""`ganforge eval` on held-out pairs: pixel metrics need no feature extractor (so they run offline, without
Inception weights), and every pixel metric is reported beside the same metric of the input used as the output."""

from __future__ import annotations

import importlib

import pytest
import torch
from torch import nn

import ganforge
from ganforge.artifacts import LoadedGenerator
from ganforge.config import DataConfig, resolve
from ganforge.data import build
from ganforge.families import Task
from ganforge.metrics.evaluate import evaluate_pairs
from ganforge.metrics.pixel import input_as_output, psnr
from ganforge.metrics.report import format_table

from ..conftest import write_image

evaluate_module = importlib.import_module("ganforge.metrics.evaluate")  # the module, not the function it exports


class Grey2Colour(nn.Module):
    """A stand-in pix2pix generator that returns its grey input as a colour image (scaled by `gain`)."""

    def __init__(self, gain: float = 1.0):
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.gain).expand(-1, 3, -1, -1)


def stand_in(tmp_path, gain: float) -> tuple[LoadedGenerator, str]:
    for index in range(4):
        write_image(tmp_path / "pairs" / "A" / f"{index}.png", "L", (32, 32), seed=index)
        write_image(tmp_path / "pairs" / "B" / f"{index}.png", "RGB", (32, 32), seed=10 + index)
    info = build(DataConfig(source=str(tmp_path / "pairs"), resolution=32), task=Task.PAIRED).info
    generator = LoadedGenerator(
        Grey2Colour(gain), resolve({"model.name": "pix2pix"}).model, info, 0, 0.0, {}, "stand-in"
    )
    return generator, str(tmp_path / "pairs")


@pytest.fixture
def no_inception(monkeypatch, tmp_path):
    """Offline: no Inception weights anywhere (and building any extractor is counted)."""
    monkeypatch.setenv("GANFORGE_INCEPTION", str(tmp_path / "missing.pth"))
    built = []
    original = evaluate_module.build_extractor
    monkeypatch.setattr(evaluate_module, "build_extractor", lambda *a, **k: built.append(a) or original(*a, **k))
    return built


def test_pixel_metrics_need_no_extractor_and_run_offline(tmp_path, no_inception):
    generator, pairs = stand_in(tmp_path, 0.5)
    results = ganforge.evaluate(pairs, generator, "psnr,ssim,l1", extractor="inception", num=4)
    assert no_inception == []  # no network was built, so no weights were looked for
    assert {"psnr", "ssim", "l1", "psnr_input", "ssim_input", "l1_input"} <= set(results)
    assert "not_computed" not in results


def test_missing_weights_name_the_feature_metrics_while_pixel_metrics_run(tmp_path, no_inception):
    generator, pairs = stand_in(tmp_path, 0.5)
    results = evaluate_pairs(pairs, generator, ("psnr", "fid"), "inception", 4, 2, "cpu")
    assert "psnr" in results and "fid" not in results
    assert "GANFORGE_INCEPTION" in results["not_computed"]["fid"] and "\n" not in results["not_computed"]["fid"]
    with pytest.raises(ganforge.ConfigError, match="--metrics fid: extractor 'inception'"):
        evaluate_pairs(pairs, generator, ("fid",), "inception", 4, 2, "cpu")


def test_input_as_output_baseline_equals_a_model_that_copies_its_input(tmp_path):
    copier, pairs = stand_in(tmp_path, 1.0)
    same = evaluate_pairs(pairs, copier, ("psnr", "ssim", "l1"), "digits", 4, 3, "cpu")
    for key in ("psnr", "ssim", "l1"):
        assert same[key] == pytest.approx(same[f"{key}_input"], abs=1e-9)
    darker = evaluate_pairs(
        pairs,
        LoadedGenerator(Grey2Colour(0.2), copier.model, copier.dataset, 0, 0.0, {}, "d"),
        ("psnr", "l1"),
        "digits",
        4,
        3,
        "cpu",
    )
    assert darker["psnr_input"] == pytest.approx(same["psnr_input"]) and darker["psnr"] != pytest.approx(same["psnr"])
    table = format_table(darker)
    assert "input as output" in table and f"{darker['psnr_input']:.5g}" in table


def test_input_as_output_matches_channels():
    grey = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    colour = input_as_output(grey, 3)
    assert colour.shape == (2, 3, 8, 8) and torch.equal(colour[:, 2], grey[:, 0])
    assert torch.equal(input_as_output(colour, 1), grey)  # luma of a grey colour image is the grey
    assert input_as_output(colour, 3) is colour
    assert psnr(input_as_output(grey, 3), colour) == 100.0
