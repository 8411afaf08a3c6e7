"""Checkpoints: state_dicts + config + format version + progress + optimizer/EMA/augment/RNG state.

Written atomically (temp file, fsync, rename), the newest K kept, loaded with `weights_only=True` (no pickled code)
after every member of the zip archive passed its CRC-32 check (torch.load does not check them, so a flipped byte
would otherwise load as a silently different weight).
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_open
from ..config import FORMAT_VERSION
from ..errors import CheckpointError

FORMAT = "ganforge-checkpoint"
BEST_NAME = "best.pt"
NAME_PATTERN = re.compile(r"^checkpoint-(\d+)\.pt$")
ZIP_MAGIC = b"PK\x03\x04"  # the first bytes of every file torch.save writes
REQUIRED = ("config", "dataset", "num_classes", "step", "images_seen")  # what resume and loading read


def checkpoint_name(step: int) -> str:
    return f"checkpoint-{step:08d}.pt"


def save(state: dict[str, Any], run_dir: Path, step: int, keep: int) -> Path:
    """Write `state` as run_dir/checkpoint-<step>.pt atomically, then delete all but the newest `keep`."""
    path = Path(run_dir) / checkpoint_name(step)
    with atomic_open(path) as handle:
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **state}, handle)
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def remove_partial_writes(run_dir: Path) -> list[Path]:
    """Delete the temporary files of checkpoint and best.pt writes that a killed run left in `run_dir` (call it only
    while holding the run's lock: then no write of this run is under way); returns what was removed."""
    leftovers = [*Path(run_dir).glob(".checkpoint-*.tmp"), *Path(run_dir).glob(f".{BEST_NAME}.*.tmp")]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def copy_as_best(path: Path) -> Path:
    """Atomically copy a checkpoint to best.pt beside it (the best by FID so far)."""
    best = Path(path).with_name(BEST_NAME)
    with atomic_open(best) as handle, open(path, "rb") as source:
        shutil.copyfileobj(source, handle)
    return best


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints in a run directory, oldest first."""
    found = [(int(m.group(1)), p) for p in Path(run_dir).glob("checkpoint-*.pt") if (m := NAME_PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def is_zip(path: Path) -> bool:
    """True for a file in torch.save's (zip) format: a ganforge checkpoint, or another project's torch.save file."""
    with open(path, "rb") as handle:
        return handle.read(len(ZIP_MAGIC)) == ZIP_MAGIC


def check_integrity(path: Path) -> None:
    """CheckpointError naming `path` unless it is a complete zip archive whose every member matches the CRC-32
    stored beside it (torch.save writes one per tensor and for the pickled structure)."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or corrupt?): "
            f"{str(error).splitlines()[0][:200] if str(error) else type(error).__name__}"
        ) from None
    if bad is not None:
        raise CheckpointError(
            f"{path} is corrupt: its part {bad!r} fails its CRC check (the file changed on disk "
            f"after it was written); use an older checkpoint of the run"
        )


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint (tensors and plain data only); clear errors for anything else."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise CheckpointError(f"{path}: no checkpoint-*.pt files in this folder")
        path = found[-1]
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not is_zip(path):  # torch.save writes zip archives; refuse anything else before unpickling a byte of it
        from .foreign import looks_like  # noqa: PLC0415 (only for the error)

        raise CheckpointError(
            f"{path} is not a checkpoint: "
            + (
                "the file is empty"
                if not path.stat().st_size
                else f"checkpoints are zip archives written by torch.save, and this is another kind of file "
                f"({looks_like(path)})"
            )
        )
    check_integrity(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or corrupt?): {str(error).splitlines()[0][:200]}"
        ) from None
    except Exception as error:  # weights_only refuses pickled code: name it plainly
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            raise CheckpointError(
                f"{path} contains pickled Python objects, which ganforge never loads "
                f"(weights_only=True); it is not a ganforge checkpoint"
            ) from None
        raise CheckpointError(f"{path} could not be loaded: {str(error).splitlines()[0][:200]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganforge checkpoint (no '{FORMAT}' marker)")
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {version}; this ganforge reads {FORMAT_VERSION}")
    missing = [key for key in REQUIRED if key not in state]
    if missing or not isinstance(state["config"], dict) or not isinstance(state["config"].get("model"), dict):
        raise CheckpointError(
            f"{path} is an incomplete ganforge checkpoint: "
            + (f"no {', '.join(repr(key) for key in missing)}" if missing else "no model config")
        )
    state["path"] = str(path)
    return state


def generator_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The EMA generator's weights of a loaded checkpoint; CheckpointError naming the file when it holds none."""
    if not isinstance(state.get("G_ema"), dict):
        raise CheckpointError(f"{state['path']} is an incomplete ganforge checkpoint: no 'G_ema' (its generator)")
    return state["G_ema"]
