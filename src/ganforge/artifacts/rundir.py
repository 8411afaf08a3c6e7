"""Numbered run directories (runs/00000-<name>/) and finding the newest run to resume."""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import CheckpointError
from .checkpoint import list_checkpoints

RUN_PATTERN = re.compile(r"^(\d{5})-")


def create_run_dir(out: str | Path, name: str) -> Path:
    """Make out/NNNNN-name with the next free number."""
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in out.iterdir() if p.is_dir() and (m := RUN_PATTERN.match(p.name))]
    safe = re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("_") or "run"
    for number in range(max(numbers, default=-1) + 1, max(numbers, default=-1) + 1000):
        path = out / f"{number:05d}-{safe}"
        try:
            path.mkdir()
            return path
        except FileExistsError:  # another process took this number
            continue
    raise OSError(f"cannot create a run directory in {out}")


def resolve_resume(resume: str, out: str | Path) -> Path:
    """'auto' -> the newest checkpoint of the newest run under `out`; a run dir -> its newest; a file -> itself."""
    if resume == "auto":
        out = Path(out).expanduser()
        runs = sorted((p for p in out.iterdir() if p.is_dir() and RUN_PATTERN.match(p.name)), reverse=True) \
            if out.is_dir() else []
        for run in runs:
            found = list_checkpoints(run)
            if found:
                return found[-1]
        raise CheckpointError(f"--resume auto: no run with a checkpoint under {out}")
    path = Path(resume).expanduser()
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise CheckpointError(f"--resume {path}: no checkpoint-*.pt in this folder")
        return found[-1]
    if not path.is_file():
        raise CheckpointError(f"--resume {path}: no such checkpoint file or run folder")
    return path
