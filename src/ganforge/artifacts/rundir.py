"""Numbered run directories (runs/00000-<name>/), finding the newest run to resume, and the lock that keeps a run
directory to one writing process."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from ..atomic import check_writable
from ..errors import CheckpointError, ConfigError
from ..filelock import exclusive_lock
from .checkpoint import list_checkpoints, load

LOCK_NAME = ".lock"  # OS-locked while a process trains into the run directory; holds "<host> <pid>"

RUN_PATTERN = re.compile(r"^(\d{5})-")


def create_run_dir(out: str | Path, name: str) -> Path:
    """Make out/NNNNN-name with the next free number."""
    out = Path(out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"--out {out}: exists and is not a folder") from None
    except OSError as error:
        raise ConfigError(f"--out {out}: cannot create the folder ({error.strerror})") from None
    numbers = [int(m.group(1)) for p in out.iterdir() if p.is_dir() and (m := RUN_PATTERN.match(p.name))]
    safe = re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("_") or "run"
    for number in range(max(numbers, default=-1) + 1, max(numbers, default=-1) + 1000):
        path = out / f"{number:05d}-{safe}"
        try:
            path.mkdir()
            return path
        except FileExistsError:  # another process took this number
            continue
        except OSError as error:
            raise ConfigError(f"--out {out}: cannot create a run folder there ({error.strerror})") from None
    raise ConfigError(f"--out {out}: no free run number")


def newest_run(out: str | Path) -> Path | None:
    """The newest run under `out` that has a checkpoint (None if there is none)."""
    out = Path(out).expanduser()
    runs = (
        sorted((p for p in out.iterdir() if p.is_dir() and RUN_PATTERN.match(p.name)), reverse=True)
        if out.is_dir()
        else []
    )
    return next((run for run in runs if list_checkpoints(run)), None)


def resume_target(resume: str, out: str | Path) -> tuple[Path, Path | None] | None:
    """(run folder, checkpoint file or None for "its newest loadable one") that `resume` names: 'auto' (the newest
    run under `out`; None when there is none, which means starting fresh), a run folder, or a checkpoint file."""
    if resume == "auto":
        run = newest_run(out)
        return None if run is None else (run, None)
    path = Path(resume).expanduser()
    if path.is_dir():
        if not list_checkpoints(path):
            raise CheckpointError(f"--resume {path}: no checkpoint-*.pt in this folder")
        return path, None
    if not path.is_file():
        raise CheckpointError(f"--resume {path}: no such checkpoint file or run folder")
    return path.parent, path


def load_newest(run_dir: Path) -> dict[str, Any]:
    """The newest checkpoint of `run_dir` that loads; a newer one that is corrupt or truncated is named in a warning
    and skipped (a CheckpointError, naming the newest's problem, when none loads)."""
    found = list_checkpoints(run_dir)[::-1]
    if not found:
        raise CheckpointError(f"--resume {run_dir}: no checkpoint-*.pt in this folder")
    problems = []
    for path in found:
        try:
            state = load(path)
        except CheckpointError as error:
            problems.append(str(error))
            continue
        if problems:
            warnings.warn(
                f"--resume: skipped {len(problems)} newer checkpoint(s) that do not load ({problems[0]}); "
                f"resuming from {path}, the newest that does"
            )
        return state
    raise CheckpointError(
        f"--resume {run_dir}: none of its {len(found)} checkpoint(s) loads; the newest: {problems[0]}"
    )


def run_dir_lock(run_dir: Path):
    """Hold run_dir/.lock while training writes into it; a second writer is refused, naming the holder. The lock is
    an OS lock, so one left by a killed process is free again (see `filelock.exclusive_lock`)."""
    check_writable(run_dir, folder=True)  # a read-only run folder is refused as such, not as a failed lock file
    lock = Path(run_dir) / LOCK_NAME
    return exclusive_lock(
        lock, lambda holder: f"{run_dir} is being written by {holder}; stop it first (or wait for it to finish)"
    )
