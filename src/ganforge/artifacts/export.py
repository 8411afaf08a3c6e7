"""`ganforge export`: write a trained generator in a portable format: safetensors + JSON (the default; ganforge
loads it) or ONNX (one graph file for onnxruntime and other runtimes; artifacts/onnx.py)."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .exported import describe_export, write_export
from .foreign import read as read_foreign
from .generator import from_foreign, load

FORMATS = ("safetensors", "onnx")


def export(source: str | Path, out: str | Path, format: str = "safetensors", **onnx_options) -> Path:
    """Write the EMA generator of a checkpoint (or export): `out`/config.json + `out`/generator.safetensors, or, with
    format="onnx", the single file `out` (ending in .onnx; `onnx_options`: quantize, calibrate, calibration_images
    of `export_onnx`)."""
    if format not in FORMATS:
        raise ConfigError(f"--format {format}: choose one of {', '.join(FORMATS)}")
    if format == "onnx":
        from .onnx import export_onnx  # onnx is an optional extra

        return export_onnx(source, out, **onnx_options)
    if onnx_options:
        raise ConfigError(f"{', '.join(onnx_options)}: only for --format onnx")
    if Path(out).expanduser().is_file():
        raise ConfigError(f"--out {out} is a file; the safetensors export is a folder (config.json + weights)")
    generator = load(source)
    return write_export(Path(out).expanduser(), generator.module.state_dict(), describe_export(generator))


def import_model(source: str | Path, out: str | Path, arch: str | None = None) -> Path:
    """`ganforge import`: another project's model file (an NVIDIA network pickle, ...) as a normal export,
    `out`/config.json + `out`/generator.safetensors; `arch` overrides the architecture read from the file where the
    format allows a choice."""
    source, out = Path(source).expanduser(), Path(out).expanduser()
    if out.is_file():
        raise ConfigError(f"--out {out} is a file; an import writes a folder (config.json + weights)")
    generator = from_foreign(read_foreign(source, arch), source)
    return write_export(out, generator.module.state_dict(), describe_export(generator))
