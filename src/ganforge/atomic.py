"""Crash-safe file writes: write a temp file (or folder) beside the target, fsync, rename over it, fsync the folder;
and the checks made before writing: a writable place, and no output that is also an input."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import ConfigError

WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}  # a write failed for lack of room or rights


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield the name of an empty temp file beside `path`, for writers that take a file name; it is fsync'd and
    replaces `path` only once the body completes. On error it is removed and `path` is untouched, folders made for
    it are removed again when they stayed empty, and a full disk or a read-only file system is an OSError naming
    `path` (also when a writer such as torch.save wrapped it in an error of its own)."""
    path = Path(path)
    made = _make_folders(path.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:  # name the file the caller asked for, not the temporary one
        _remove_empty(made)
        raise type(error)(error.errno, error.strerror, str(path)) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the permissions a plain open() would
        os.close(fd)
        yield Path(tmp_name)
        fd = os.open(tmp_name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_name, path)
    except BaseException as error:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        _remove_empty(made)
        cause = _write_error(error)
        if cause is not None:
            raise OSError(cause.errno, os.strerror(cause.errno), str(path)) from None
        raise
    _fsync_dir(path.parent)


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Yield a file that replaces `path` only once it is completely written (see `atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, mode) as handle:
        yield handle


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield a new hidden folder beside `path` to fill; it is renamed to `path` (absent, or an empty folder) only once
    the body completes, and removed on error. A killed process leaves only that `.NAME.partial-*` folder, so a rerun
    is not blocked by a half-written `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    try:
        os.chmod(partial, 0o777 & ~_umask())  # mkdtemp makes 0700; give the permissions a plain mkdir would
        yield partial
        os.replace(partial, path)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _fsync_dir(path.parent)


@contextmanager
def removed_on_error(folder: str | Path) -> Iterator[Path]:
    """For an output made of several files in a new folder: when the block fails, the folder, if it did not exist
    before, is removed with whatever was written into it, so that no partial output is left behind."""
    folder = Path(folder)
    made = _make_folders(folder)
    try:
        yield folder
    except BaseException:
        if made:
            shutil.rmtree(made[-1], ignore_errors=True)  # the outermost folder this made
        raise


def _make_folders(folder: Path) -> list[Path]:
    """mkdir -p `folder`; the folders it created, innermost first."""
    missing = [parent for parent in [folder, *folder.parents] if not parent.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # innermost first
        try:
            folder.rmdir()
        except OSError:  # not empty (another writer's files), or already gone
            return


def _write_error(error: BaseException) -> OSError | None:
    """The OSError of a full disk or read-only file system behind `error` (itself, or what it was raised from)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in WRITE_ERRNOS:
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


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


def check_not_input(outputs: Iterable[str | Path | None], inputs: Iterable[str | Path | None], flag: str) -> None:
    """ConfigError naming `flag` when writing one of `outputs` would overwrite what the command reads: an output
    that already exists as one of `inputs` (the same file or folder by any spelling: compared by device and inode),
    or an existing file inside an input folder. Outputs that do not exist yet overwrite nothing; None (an option
    not given) is skipped."""
    sources, folders = {}, []
    for given in inputs:
        if not given:  # an optional input that was not given
            continue
        try:
            info = os.stat(Path(given).expanduser())
        except (OSError, ValueError):
            continue  # a missing input is the reader's error to report
        sources[(info.st_dev, info.st_ino)] = given
        if Path(given).expanduser().is_dir():
            folders.append((Path(given).expanduser().resolve(), given))
    for output in outputs:
        if not output:
            continue
        path = Path(output).expanduser()
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            continue
        given = sources.get((info.st_dev, info.st_ino))
        if given is None and path.is_file():
            given = next((folder for resolved, folder in folders if resolved in path.resolve().parents), None)
        if given is not None:
            what = "is" if sources.get((info.st_dev, info.st_ino)) else "is a file inside"
            raise ConfigError(
                f"{flag} {output}: {what} the input {given}, which writing it would overwrite; choose another {flag}"
            )


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
