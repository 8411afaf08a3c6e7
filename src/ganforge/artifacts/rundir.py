"""Numbered run directories (runs/00000-<name>/), finding the newest run to resume, and the lock that keeps a run
directory to one writing process."""
from __future__ import annotations

import contextlib
import os
import re
import socket
from pathlib import Path
from typing import Iterator

from ..atomic import check_writable
from ..errors import CheckpointError, ConfigError
from .checkpoint import list_checkpoints

LOCK_NAME = ".lock"  # holds "<host> <pid>" of the process training into the run directory

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


def newest_checkpoint(out: str | Path) -> Path | None:
    """The newest checkpoint of the newest run under `out` that has one (None if there is none)."""
    out = Path(out).expanduser()
    runs = sorted((p for p in out.iterdir() if p.is_dir() and RUN_PATTERN.match(p.name)), reverse=True) \
        if out.is_dir() else []
    for run in runs:
        found = list_checkpoints(run)
        if found:
            return found[-1]
    return None


def resolve_resume(resume: str, out: str | Path) -> Path:
    """A run dir -> its newest checkpoint; a file -> itself ('auto' is resolved by the caller with
    `newest_checkpoint`, since finding nothing there means starting fresh)."""
    path = Path(resume).expanduser()
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise CheckpointError(f"--resume {path}: no checkpoint-*.pt in this folder")
        return found[-1]
    if not path.is_file():
        raise CheckpointError(f"--resume {path}: no such checkpoint file or run folder")
    return path


def _lock_owner(lock: Path) -> tuple[str, int] | None:
    try:
        host, pid = lock.read_text().split()
        return host, int(pid)
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[Path]:
    """Hold run_dir/.lock while training writes into it; a second writer is refused, naming the owner. A lock left
    by a process that is gone (killed, crashed) on this host is taken over."""
    check_writable(run_dir, folder=True)  # a read-only run folder is refused as such, not as a failed lock file
    lock = Path(run_dir) / LOCK_NAME
    me = f"{socket.gethostname()} {os.getpid()}"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _lock_owner(lock)
            if owner and (owner[0] != socket.gethostname() or _alive(owner[1])):
                raise ConfigError(f"{run_dir} is being written by process {owner[1]} on {owner[0]}; stop it first "
                                  f"(or delete {lock} if that process is gone)") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(me)
        break
    else:
        raise ConfigError(f"{run_dir}: could not take the run lock {lock}")
    try:
        yield lock
    finally:
        if _lock_owner(lock) == (socket.gethostname(), os.getpid()):
            lock.unlink(missing_ok=True)
