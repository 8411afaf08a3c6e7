"""Checksum-verified downloads into a cache folder (datasets, feature-extractor weights); atomic, resumable by retry."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from .atomic import atomic_open
from .errors import DataError


def cache_dir(kind: str) -> Path:
    """$GANFORGE_CACHE/<kind>, default ~/.cache/ganforge/<kind>."""
    root = Path(os.environ.get("GANFORGE_CACHE", Path.home() / ".cache" / "ganforge")).expanduser()
    return root / kind


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DownloadUnavailable(DataError):
    """No URL could be reached (as opposed to a file that arrived with the wrong checksum)."""


def fetch(
    urls: list[str] | tuple[str, ...],
    target: Path,
    checksum: str | None,
    algorithm: str = "sha256",
    prefix: bool = False,
) -> Path:
    """Return `target`, downloading it from the first URL that works when it is absent; verify its checksum.

    `prefix`: `checksum` is only the digest's leading part (torch.hub's file-name convention). `checksum` None: the
    publisher gives none, so nothing is verified and the caller reports the file's digest with its results.
    A wrong checksum is an error naming the URL and both digests; nothing is left at `target` then.
    """

    def matches(actual: str) -> bool:
        return checksum is None or (actual.startswith(checksum) if prefix else actual == checksum)

    expected = f"{checksum}..." if prefix else checksum

    if target.exists():
        actual = file_digest(target, algorithm)
        if matches(actual):
            return target
        raise DataError(
            f"{target} exists but its {algorithm} is {actual}, expected {expected}; delete it to download again"
        )
    failures = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, atomic_open(target) as handle:
                shutil.copyfileobj(response, handle)
        except (urllib.error.URLError, OSError, ValueError) as error:
            failures.append(f"{url}: {error}")
            continue
        actual = file_digest(target, algorithm)
        if not matches(actual):
            target.unlink()
            raise DataError(
                f"download from {url} has {algorithm} {actual}, expected {expected}; "
                f"the file was corrupted or changed upstream and was not kept"
            )
        return target
    raise DownloadUnavailable(
        f"could not download {target.name}; tried:\n  "
        + "\n  ".join(failures)
        + f"\nWithout a network, place the file at {target} yourself."
    )


def existing_file(path: Path, what: str, source: str) -> Path:
    """`path` if it is a file, else a DataError naming what it should be and where the path came from."""
    if not path.is_file():
        raise DataError(f"{what} {path} (from {source}) does not exist or is not a file")
    return path


def packaged_file(package: str, relative: str) -> Path | None:
    """A data file inside an installed package, found without importing the package (which may need heavy deps)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None
