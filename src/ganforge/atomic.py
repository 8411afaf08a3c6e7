"""Crash-safe file writes: write a temp file beside the target, fsync, rename over it, fsync the folder."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from .errors import ConfigError


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Yield a file that replaces `path` only once it is completely written; on error `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:  # name the file the caller asked for, not the temporary one
        raise type(error)(error.errno, error.strerror, str(path)) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the permissions a plain open() would
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def check_writable(path: str | Path, folder: bool = False) -> None:
    """ConfigError unless `path` can be written as a file (or, with `folder`, a folder of files), checked before any
    work: an existing path must be of that kind, and the folder that will hold it (or its nearest existing parent)
    must be a folder that can be written, on a file system that is not mounted read-only."""
    path = Path(path).expanduser()
    kind = "folder" if folder else "file"
    if path.exists():
        if path.is_dir() != folder:
            raise ConfigError(f"{path} is an existing {'folder' if path.is_dir() else 'file'}; give a {kind} name")
        home = path if folder else path.parent
    else:
        home = path.parent
        while not home.exists() and home != home.parent:
            home = home.parent
        if not home.is_dir():
            raise ConfigError(f"{path}: {home} is a file, so no {kind} can be made below it")
    if not os.access(home, os.W_OK | os.X_OK) or os.statvfs(home).f_flag & os.ST_RDONLY:
        raise ConfigError(f"{path}: cannot write in {home} (read-only or no permission)")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)
