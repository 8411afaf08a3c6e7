"""Files written by `torch.save` holding plain tensors (state dicts, dicts of state dicts): the pix2pix/CycleGAN
authors' generator files and rosinality's checkpoints. Read with `weights_only=True` (torch's loader that rebuilds
tensors and plain containers and refuses any other global), so a file holding pickled modules or code is an error,
never executed. Beside tensors it allows `argparse.Namespace` (a bag of attributes: rosinality's train.py stores its
command-line arguments as one)."""

from __future__ import annotations

import argparse
import functools
import pickle
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since torch 1.6: a zip archive
LEGACY_MAGIC = bytes.fromhex("8a0a6cfc9c46f9206aa85019")  # the magic number a legacy (pre-1.6) torch.save pickles first


def is_torch_file(head: bytes) -> bool:
    """Do these first bytes start a torch.save file (zip, or the legacy pickle stream)?"""
    return head.startswith(ZIP_MAGIC) or LEGACY_MAGIC in head[:16]


def load(path: Path) -> Any:
    """The object a torch.save file holds, tensors on the CPU (memory-mapped for zip files: nothing is read until
    used). A CheckpointError naming the file when it is truncated or corrupt, or holds more than tensors."""
    with open(path, "rb") as handle:
        zipped = handle.read(4) == ZIP_MAGIC
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as error:  # weights_only refused a global: pickled objects or code
        found = next(
            (line.strip() for line in str(error).splitlines() if "GLOBAL" in line or "global" in line),
            str(error).splitlines()[0],
        )
        raise CheckpointError(
            f"{path}: holds pickled Python objects, not only tensors ({found[:160]}); ganforge "
            f"reads weights only (save the state_dict())"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable torch.save file, truncated or corrupt ({first[:160]})") from None


def _skeleton(value: Any) -> Any:
    """`value` with every tensor replaced by an empty one of its shape and dtype on the meta device (no memory)."""
    if isinstance(value, torch.Tensor):
        return torch.empty(value.shape, dtype=value.dtype, device="meta")
    if isinstance(value, dict):
        return {key: _skeleton(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_skeleton(item) for item in value)
    return value


@functools.lru_cache(maxsize=16)
def _skeleton_of(path: str, size: int, mtime_ns: int) -> Any:
    """The skeleton of a file's contents, once per file version: every reader's `sniff` (and every studio listing)
    looks at the same file, and a legacy (non-zip) file is read whole each time it is loaded."""
    try:
        return _skeleton(load(Path(path)))
    except CheckpointError:
        return None


def peek(path: Path, head: bytes) -> dict | None:
    """For a reader's `sniff`: the dict a readable torch.save file holds, its tensors as shapes only (meta tensors),
    or None for anything else (another format, an unreadable file: the loader then reports what it is)."""
    if not is_torch_file(head):
        return None
    stat = path.stat()
    data = _skeleton_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return data if isinstance(data, dict) else None


def tensor_dict(path: Path, value: Any, what: str) -> dict[str, torch.Tensor]:
    """`value` as a {name: tensor} state dict, or a CheckpointError naming the file and `what` it should have been."""
    if (
        not isinstance(value, dict)
        or not value
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    ):
        kind = type(value).__name__ if not isinstance(value, dict) else "dict of other things"
        raise CheckpointError(f"{path}: expected {what} (a state dict of tensors), found a {kind}")
    return dict(value)
