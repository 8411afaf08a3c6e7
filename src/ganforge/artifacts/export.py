"""`ganforge export`: write a trained generator in a portable format: safetensors + JSON (the default; ganforge
loads it) or ONNX (one graph file for onnxruntime and other runtimes: the graph of artifacts/onnx.py, or the int8
graph of artifacts/quantize.py)."""

from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_open
from ..errors import ConfigError
from .exported import describe_export, write_export
from .foreign import read as read_foreign
from .generator import LoadedGenerator, from_foreign, load

FORMATS = ("safetensors", "onnx")
QUANTIZATIONS = ("int8",)  # `export_onnx(quantize=...)`: artifacts/quantize.py


def export(source: str | Path, out: str | Path, format: str = "safetensors", **onnx_options) -> Path:
    """Write the EMA generator of a checkpoint (or export): `out`/config.json + `out`/generator.safetensors, or, with
    format="onnx", the single file `out` (ending in .onnx; `onnx_options`: quantize, calibrate, calibration_images
    of `export_onnx`)."""
    if format not in FORMATS:
        raise ConfigError(f"--format {format}: choose one of {', '.join(FORMATS)}")
    if format == "onnx":
        return export_onnx(source, out, **onnx_options)
    if onnx_options:
        raise ConfigError(f"{', '.join(onnx_options)}: only for --format onnx")
    if Path(out).expanduser().is_file():
        raise ConfigError(f"--out {out} is a file; the safetensors export is a folder (config.json + weights)")
    generator = load(source)
    return write_export(Path(out).expanduser(), generator.module.state_dict(), describe_export(generator))


def export_onnx(
    source: str | Path | LoadedGenerator,
    out: str | Path,
    quantize: str | None = None,
    calibrate: str | None = None,
    calibration_images: int = 64,
) -> Path:
    """Write the generator of a checkpoint or export (or a loaded one) to `out`, a file ending in .onnx.
    `quantize="int8"`: the int8 graph of artifacts/quantize.py, calibrated on `calibrate` (image-to-image models);
    its measured fidelity is printed and stored in the metadata."""
    out = Path(out).expanduser()
    if out.suffix != ".onnx" or out.is_dir():
        raise ConfigError(f"--out {out}: an ONNX export is one file whose name ends in .onnx (e.g. model.onnx)")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ConfigError(f"--quantize {quantize}: choose one of {', '.join(QUANTIZATIONS)}")
    generator = source if isinstance(source, LoadedGenerator) else load(source)
    if quantize:
        from .quantize import quantize_int8  # onnx is an optional extra: its modules are imported when used

        data, fidelity = quantize_int8(generator, calibrate, calibration_images)
        print(fidelity.describe())
    else:
        from .onnx import to_onnx

        data = to_onnx(generator)
    with atomic_open(out) as handle:
        handle.write(data)
    return out


def import_model(source: str | Path, out: str | Path, arch: str | None = None) -> Path:
    """`ganforge import`: another project's model file (an NVIDIA network pickle, ...) as a normal export,
    `out`/config.json + `out`/generator.safetensors; `arch` overrides the architecture read from the file where the
    format allows a choice."""
    source, out = Path(source).expanduser(), Path(out).expanduser()
    if out.is_file():
        raise ConfigError(f"--out {out} is a file; an import writes a folder (config.json + weights)")
    generator = from_foreign(read_foreign(source, arch), source)
    return write_export(out, generator.module.state_dict(), describe_export(generator))
