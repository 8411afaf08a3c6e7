"""Exclusive lock files: an OS lock (flock) that the kernel drops when its process ends, so a lock left by a killed
process is free at once and taking it over is atomic; the file names its holder ("<host> <pid>") for messages."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import ConfigError


def lock_holder(lock: Path) -> str:
    """'process PID on HOST' as written in a lock file, or 'another process' when it cannot be read."""
    try:
        host, pid = Path(lock).read_text().split()
        return f"process {int(pid)} on {host}"
    except (OSError, ValueError):
        return "another process"


@contextlib.contextmanager
def exclusive_lock(lock: str | Path, busy: Callable[[str], str]) -> Iterator[Path]:
    """Hold `lock` (created if missing) for the body; ConfigError(busy(holder)) at once if a live process holds it.
    The file is removed on release; a stale one (its process gone) is simply locked again."""
    lock = Path(lock)
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(busy(lock_holder(lock))) from None
        try:  # the holder may have released (and removed) the file between our open and our lock: lock the new one
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()} {os.getpid()}".encode())
        yield lock
    finally:
        lock.unlink(missing_ok=True)  # while still holding it, so no one locks the file being removed
        os.close(fd)
