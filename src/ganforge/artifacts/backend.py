"""Inference backends: a generator runs in PyTorch (`LoadedGenerator`) or in onnxruntime (`OnnxGenerator`, from a
ganforge .onnx file or exported in memory from a checkpoint). Both have the same sampling API (`generate`,
`synthesize`, `latents`, `labels_for`); `open_generator` picks one by name, and `backend_for` resolves "auto"."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from ..errors import ConfigError
from .generator import SeededSampler, load

BACKENDS = ("torch", "onnxruntime")


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def is_onnx_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def backend_for(path: str | Path, backend: str | None, prefer_onnxruntime: bool = False) -> str:
    """The backend to run `path` with: the one asked for; else onnxruntime for .onnx files, and for other models
    onnxruntime when `prefer_onnxruntime` (it was measured faster for this use) and it is installed, else torch."""
    if backend is None or backend == "auto":
        return "onnxruntime" if is_onnx_file(path) or (prefer_onnxruntime and onnxruntime_installed()) else "torch"
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend}: choose one of {', '.join(BACKENDS)}")
    if backend == "torch" and is_onnx_file(path):
        raise ConfigError(
            f"--backend torch: {path} is an ONNX file, which only onnxruntime runs; use --backend "
            f"onnxruntime, or give the checkpoint or export it came from"
        )
    return backend


def open_generator(
    path: str | Path, backend: str | None = None, device: str | torch.device = "cpu", threads: int | None = None
) -> SeededSampler:
    """A generator from a checkpoint, an export folder or a .onnx file, run by `backend` (see `backend_for`).
    onnxruntime runs on the CPU with `threads` intra-op threads (default: torch's thread count)."""
    from .onnx import from_generator, load_onnx  # onnx/onnxruntime are optional: imported only when used

    chosen = backend_for(path, backend)
    if chosen == "torch":
        return load(path, device)
    if is_onnx_file(path):
        return load_onnx(path, threads)
    return from_generator(load(path), threads)
