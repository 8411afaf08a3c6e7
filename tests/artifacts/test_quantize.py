"""int8 ONNX export (artifacts/quantize.py): every conv becomes an int8 QLinearConv, the images stay close to the fp32
graph's (measured on inputs held out of calibration), the fidelity is stored in the metadata, and bad requests fail
with a clear error."""

import collections
import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import onnx  # noqa: E402

from ganforge.artifacts.export import export_onnx  # noqa: E402
from ganforge.artifacts.onnx import load_onnx  # noqa: E402
from ganforge.artifacts.quantize import quantize_int8  # noqa: E402
from ganforge.errors import ConfigError  # noqa: E402
from ganforge.imaging import save_png  # noqa: E402

from .test_onnx import make_generator, run, write_folder  # noqa: E402


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * np.log10(4.0 / torch.mean((a.double() - b.double()) ** 2).item())


def edge_images(folder, count: int, size: int = 32):
    """Grey outline drawings: the kind of input an edges -> photo pix2pix model translates."""
    rng = np.random.default_rng(0)
    for index in range(count):
        image = np.full((size, size), 255, dtype=np.uint8)
        top, left = rng.integers(2, size // 2, size=2)
        bottom, right = top + rng.integers(6, size // 2), left + rng.integers(6, size // 2)
        image[top:bottom, [left, right]] = 0
        image[[top, bottom], left : right + 1] = 0
        save_png(image[..., None], folder / f"{index:03d}.png")
    return folder


def op_counts(model_bytes: bytes) -> collections.Counter:
    return collections.Counter(node.op_type for node in onnx.load_from_string(model_bytes).graph.node)


def test_int8_pix2pix_is_quantized_and_close_to_fp32(tmp_path):
    generator = make_generator("pix2pix")
    calibration = edge_images(tmp_path / "edges", 24)
    data, fidelity = quantize_int8(generator, str(calibration), calibration_images=16, check_images=8)
    ops = op_counts(data)  # the 32-px U-Net has 10 convs: all int8 but the first
    assert ops["QLinearConv"] == 9 and ops["Conv"] == 1 and ops["ConvTranspose"] == 0
    assert fidelity.images == 6 and fidelity.calibration_images == 16  # 24 // 4 held out, never calibrated on
    assert 30 <= fidelity.psnr_db < 200 and 0 < fidelity.max_abs < 0.2

    path = tmp_path / "int8.onnx"
    path.write_bytes(data)
    loaded = load_onnx(path, threads=1)
    details = json.loads(loaded.session.get_modelmeta().custom_metadata_map["ganforge"])
    assert details["quantization"]["type"] == "int8" and details["quantization"]["psnr_db"] == fidelity.psnr_db
    source = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 - 1
    with torch.no_grad():
        expected = generator.module(source)
    actual = loaded.translate_fn()(source)
    assert actual.shape == expected.shape and psnr(actual, expected) >= 25  # uniform noise: harder than edges


def test_int8_dcgan_samples_like_fp32(tmp_path):
    generator = make_generator("dcgan-conditional")
    path = export_onnx(generator, tmp_path / "dcgan.onnx", quantize="int8", calibration_images=32)
    loaded = load_onnx(path, threads=1)
    assert op_counts(path.read_bytes())["QLinearConv"] >= 1
    images = loaded.generate(6, seed=3, classes=[0, 1, 2, 0, 1, 2]).astype(float)
    expected = generator.generate(6, seed=3, classes=[0, 1, 2, 0, 1, 2]).astype(float)
    assert 10 * np.log10(255.0**2 / np.mean((images - expected) ** 2)) >= 30


def test_quantize_bad_requests(tmp_path):
    with pytest.raises(ConfigError, match="needs --calibrate"):
        quantize_int8(make_generator("pix2pix"))
    with pytest.raises(ConfigError, match="--calibrate .*nowhere: no such folder"):
        quantize_int8(make_generator("pix2pix"), str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="found 1 image"):
        quantize_int8(make_generator("pix2pix"), str(edge_images(tmp_path / "one", 1)))
    with pytest.raises(ConfigError, match="--calibrate digits: a noise-to-image model is calibrated on its own"):
        quantize_int8(make_generator("dcgan"), "digits")
    with pytest.raises(ConfigError, match="--calibration-images 5000: must be between 1 and 1024"):
        quantize_int8(make_generator("dcgan"), calibration_images=5000)
    with pytest.raises(ConfigError, match="modulated convolutions"):
        quantize_int8(make_generator("stylegan2"))
    with pytest.raises(ConfigError, match="--quantize int4"):
        export_onnx(make_generator("dcgan"), tmp_path / "m.onnx", quantize="int4")
    folder = write_folder("dcgan", tmp_path / "dcgan")
    result = run("export", folder, "--out", tmp_path / "st", "--quantize", "int8")
    assert result.exit_code == 2 and "only for --format onnx" in result.output
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "st").exists()


def test_cli_export_int8_prints_its_fidelity(tmp_path):
    folder = write_folder("pix2pix", tmp_path / "p2p")
    calibration = edge_images(tmp_path / "edges", 12)
    result = run(
        "export",
        folder,
        "--format",
        "onnx",
        "--quantize",
        "int8",
        "--calibrate",
        calibration,
        "--calibration-images",
        "8",
        "--out",
        tmp_path / "p2p-int8.onnx",
    )
    assert result.exit_code == 0, result.output
    assert "int8 vs fp32 on 3 held-out inputs: PSNR" in result.output and "int8)" in result.output
    out = tmp_path / "translated.png"
    result = run("translate", tmp_path / "p2p-int8.onnx", calibration / "000.png", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.is_file()
