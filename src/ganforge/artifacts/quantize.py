"""int8 ONNX graphs: static post-training quantization with onnxruntime (`ganforge export --format onnx --quantize
int8`), for CPUs where the fp32 graph is too slow (pix2pix at 256x256 on two cores).

The graph is artifacts/fast.py's rewritten form (batch norm folded, transposed convs as one sub-pixel conv each, so
every layer is a plain Conv that onnxruntime runs as an int8 QLinearConv). Weights are quantized per output channel
(int8, symmetric), activations per tensor (uint8) with ranges calibrated on inputs the user names: the min/max of
each activation over the calibration set. In image-to-image graphs the first convolution stays fp32 (0.4% of
pix2pix's FLOPs): it reads the image, and its output reaches the output layer directly through the U-Net's outermost
skip connection, so its 8-bit error is not averaged away (PSNR against fp32 on a trained pix2pix-256: 18.7 dB with it
quantized, 48.8 dB without). The result is not bit-identical to the fp32 graph; the export measures
how far it is, on inputs held out of calibration (PSNR over the [-1, 1] range and max |difference|), prints it and
stores it in the graph's metadata, so a user sees the price before using it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import ConfigError
from ..families import Task
from .generator import LoadedGenerator
from .onnx import IMAGE, META_KEY, graph_kind, native_stdout_silenced, open_session, require, to_onnx

CHECK_SEED = 10**6  # fidelity-check latents come from seeds away from the calibration ones
MAX_CALIBRATION_IMAGES = 1024  # all calibration inputs are held in memory (1024 RGB 256x256 floats: 0.8 GB)


@dataclass(frozen=True)
class Fidelity:
    """How close the int8 graph's images are to the fp32 graph's, on inputs not used for calibration."""

    psnr_db: float  # 10 log10(2^2 / MSE), images in [-1, 1]
    max_abs: float  # largest |int8 - fp32| of any pixel
    images: int  # images compared
    calibration_images: int  # inputs the activation ranges were taken from

    def describe(self) -> str:
        return (
            f"int8 vs fp32 on {self.images} held-out inputs: PSNR {self.psnr_db:.1f} dB, max |difference| "
            f"{self.max_abs:.3f} (calibrated on {self.calibration_images})"
        )


def _input_images(source: str, generator: LoadedGenerator, count: int) -> torch.Tensor:
    """Up to `count` model inputs in [-1, 1] from a paired dataset (its A images: a built-in name or A/ + B/
    folders) or from a folder of input images, at the model's resolution and input channels."""
    from ..data import DATASETS, build
    from ..tiling import match_channels

    info = generator.dataset
    name = source.partition(":")[0]
    folder = Path(source).expanduser()
    paired = name in DATASETS or ((folder / "A").is_dir() and (folder / "B").is_dir())
    if not paired and not folder.is_dir():
        raise ConfigError(f"--calibrate {source}: no such folder, and not a built-in paired dataset")
    dataset = build(
        DataConfig(source=source, resolution=info.resolution),
        cache=False,
        task=Task.PAIRED if paired else Task.NOISE_TO_IMAGE,
    )
    if dataset.info.resolution != info.resolution:
        raise ConfigError(
            f"--calibrate {source}: images are {dataset.info.resolution}px, the model takes {info.resolution}px"
        )
    take = torch.arange(min(count, len(dataset)))
    targets, inputs = dataset.batch(take)
    images = inputs if paired else targets  # an unpaired folder's images are the inputs themselves
    return match_channels(images.float() / 127.5 - 1, info.input_channels)


def _feeds(generator: LoadedGenerator, calibrate: str | None, count: int, check: int) -> tuple[list, list]:
    """(calibration feeds, held-out check feeds), one dict of numpy inputs per sample (batch 1)."""
    if graph_kind(generator) == IMAGE:
        if not calibrate:
            raise ConfigError(
                "--quantize int8 of an image-to-image model needs --calibrate: a folder of the kind of "
                "images you will translate (or the paired training data), to set activation ranges"
            )
        images = _input_images(calibrate, generator, count + check)
        if len(images) < 2:
            raise ConfigError(
                f"--calibrate {calibrate}: found {len(images)} image(s); need at least 2 "
                f"(some calibrate, the rest check the result)"
            )
        held = max(1, min(check, len(images) // 4))
        feeds = [{"source": image[None].numpy()} for image in images]
        return feeds[:-held][:count], feeds[-held:]

    if calibrate:
        raise ConfigError(
            f"--calibrate {calibrate}: a noise-to-image model is calibrated on its own latents "
            f"(--calibration-images of them); drop --calibrate"
        )

    def noise_feeds(seeds: range) -> list[dict]:
        z = generator.latents(list(seeds)).numpy()
        labels = generator.labels_for(len(z))
        out = [{"z": z[i : i + 1], "psi": np.asarray(1.0, dtype=np.float32)} for i in range(len(z))]
        if labels is not None:
            for feed, label in zip(out, labels.numpy()):
                feed["labels"] = np.asarray([label], dtype=np.int64)
        return out

    return noise_feeds(range(count)), noise_feeds(range(CHECK_SEED, CHECK_SEED + check))


def _fidelity(fp32: bytes, int8: bytes, checks: list[dict], calibrated: int) -> Fidelity:
    exact, quantized = open_session(fp32), open_session(int8)
    a = np.concatenate([exact.run(["images"], feed)[0] for feed in checks])
    b = np.concatenate([quantized.run(["images"], feed)[0] for feed in checks])
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    psnr = 10 * math.log10(4.0 / mse) if mse > 0 else math.inf
    return Fidelity(round(psnr, 2), round(float(np.abs(a - b).max()), 5), len(a), calibrated)


def quantize_int8(
    generator: LoadedGenerator, calibrate: str | None = None, calibration_images: int = 64, check_images: int = 16
) -> tuple[bytes, Fidelity]:
    """The int8 ONNX model of a generator and its measured fidelity to the fp32 graph."""
    onnx = require("onnx")
    require("onnxruntime")
    from onnxruntime import quantization as q
    from onnxruntime.quantization import shape_inference  # noqa: F401  (q.shape_inference)

    if generator.has_styles:
        raise ConfigError(
            f"{generator.source}: --quantize int8 supports convolutional generators with fixed weights "
            f"(DCGAN, pix2pix, CycleGAN); StyleGAN2's modulated convolutions compute their weights "
            f"per sample, which static int8 quantization cannot prepare"
        )
    if not 1 <= calibration_images <= MAX_CALIBRATION_IMAGES:
        raise ConfigError(f"--calibration-images {calibration_images}: must be between 1 and {MAX_CALIBRATION_IMAGES}")
    calibration, checks = _feeds(generator, calibrate, calibration_images, check_images)
    fp32 = to_onnx(generator, rewrite=True)

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(calibration)

        def get_next(self):
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory(prefix="ganforge-quantize-") as tmp, _quiet():
        src, ready, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "ready.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(fp32)
        # constant folding and ONNX shape inference, so that every conv's weight and bias are initializers
        q.shape_inference.quant_pre_process(str(src), str(ready), skip_symbolic_shape=True)
        convs = [node.name for node in onnx.load(str(ready)).graph.node if node.op_type == "Conv"]
        keep_fp32 = convs[:1] if graph_kind(generator) == IMAGE else []
        q.quantize_static(
            str(ready),
            str(dst),
            Reader(),
            nodes_to_exclude=keep_fp32,
            quant_format=q.QuantFormat.QOperator,
            per_channel=True,
            activation_type=q.QuantType.QUInt8,
            weight_type=q.QuantType.QInt8,
            calibrate_method=q.CalibrationMethod.MinMax,
        )
        int8 = dst.read_bytes()
    fidelity = _fidelity(fp32, int8, checks, len(calibration))
    return _with_quantization_metadata(int8, fidelity), fidelity


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide onnxruntime.quantization's chatter: per-tensor notices on the root logger and protobuf dumps on stdout."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), native_stdout_silenced():
            yield
    finally:
        root.setLevel(level)


def _with_quantization_metadata(model_bytes: bytes, fidelity: Fidelity) -> bytes:
    """The graph's `ganforge` metadata with a `quantization` entry: the scheme and the measured fidelity."""
    onnx = require("onnx")
    model = onnx.load_from_string(model_bytes)
    entry = next(e for e in model.metadata_props if e.key == META_KEY)
    details = json.loads(entry.value)
    details["quantization"] = {
        "type": "int8",
        "weights": "int8 per output channel",
        "activations": "uint8 per tensor, min/max calibration",
        **asdict(fidelity),
    }
    entry.value = json.dumps(details, sort_keys=True)
    return model.SerializeToString()
