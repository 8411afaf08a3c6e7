"""Byte ranges of a file named by a local path or a URL: https:// (http:// only to this machine) with retries through
urllib, s3:// and gs:// through fsspec's s3fs / gcsfs when they are installed. Used by the shard reader, which reads
one sample's bytes at a time, so memory stays bounded by the sample size whatever the data set's size."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import DataError
from ..limits import JSON_BYTES

RETRIES = 4  # attempts per request after the first, for network errors, HTTP 429 and 5xx
BACKOFF_S = 0.5  # wait before the first retry; doubled each time
TIMEOUT_S = 30  # per request
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")  # where plain http:// is accepted (tests, a local cache server)
OBJECT_STORES = {"s3": "s3fs", "gs": "gcsfs"}  # URL scheme -> the fsspec package that reads it
_filesystems: dict = {}  # scheme -> fsspec filesystem, one per process


def is_url(location: str) -> bool:
    """Whether `location` is a URL this module reads (http, https, s3, gs) rather than a local path."""
    return urlsplit(str(location)).scheme in ("http", "https", *OBJECT_STORES)


def join(location: str, name: str) -> str:
    """`name` inside the folder or URL prefix `location`."""
    return f"{location.rstrip('/')}/{name}" if is_url(location) else str(Path(location).expanduser() / name)


def read_range(
    location: str, start: int = 0, length: int | None = None, flag: str = "--data", most: int = JSON_BYTES
) -> bytes:
    """`length` bytes of `location` from byte `start` (None: to the end, at most `most` bytes); an unreadable, short
    or (to the end) over-long file is a DataError naming `flag` and the file. No read takes more than it asked for,
    whatever a server sends."""
    want = length if length is not None else most + 1
    scheme = urlsplit(location).scheme
    if scheme in ("http", "https"):
        data = _http_range(location, start, length, want, flag)
    elif scheme in OBJECT_STORES:
        data = _object_store_range(location, start, want, flag)
    else:
        try:
            with open(Path(location).expanduser(), "rb") as handle:
                handle.seek(start)
                data = handle.read(want)
        except OSError as error:
            raise DataError(f"{flag} {location}: cannot read ({error.strerror or error})") from None
    if length is None and len(data) > most:
        raise DataError(f"{flag} {location}: larger than the {most} bytes such a file may have")
    if length is not None and len(data) != length:
        raise DataError(
            f"{flag} {location}: {len(data)} bytes at offset {start}, expected {length} "
            f"(file truncated or replaced since its index was written?)"
        )
    return data


def _http_range(url: str, start: int, length: int | None, want: int, flag: str) -> bytes:
    """GET with a Range header (none for a whole file), reading at most `want` bytes of the answer; retried with
    exponential backoff on network errors, 429 and 5xx."""
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise DataError(f"{flag} {url}: plain http:// is accepted only for this machine; use https://")
    ranged = start > 0 or length is not None
    headers = {"Range": f"bytes={start}-{'' if length is None else start + length - 1}"} if ranged else {}
    for attempt in range(RETRIES + 1):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S) as response:
                if ranged and response.status != 206:
                    raise DataError(
                        f"{flag} {url}: the server ignored the byte-range request (HTTP "
                        f"{response.status}); shards are read by range, so serve them from a server or "
                        f"object store that supports Range (S3, GCS, nginx, ...)"
                    )
                return response.read(want)
        except urllib.error.HTTPError as error:
            if error.code != 429 and error.code < 500:
                raise DataError(f"{flag} {url}: HTTP {error.code} {error.reason}") from None
            problem = f"HTTP {error.code} {error.reason}"
        except (urllib.error.URLError, OSError) as error:  # refused, reset, DNS, timeout
            problem = str(getattr(error, "reason", error))
        if attempt < RETRIES:
            time.sleep(BACKOFF_S * 2**attempt)
    raise DataError(f"{flag} {url}: failed after {RETRIES + 1} attempts: {problem}")


def _object_store_range(url: str, start: int, want: int, flag: str) -> bytes:
    """A byte range of an s3:// or gs:// object through fsspec (the optional s3fs or gcsfs package)."""
    scheme = urlsplit(url).scheme
    if scheme not in _filesystems:
        package = OBJECT_STORES[scheme]
        try:
            import fsspec

            _filesystems[scheme] = fsspec.filesystem(scheme)
        except ImportError:
            raise DataError(
                f"{flag} {url}: reading {scheme}:// needs the {package} package (pip install {package})"
            ) from None
    try:
        return _filesystems[scheme].cat_file(url, start=start, end=start + want)
    except (OSError, ValueError) as error:  # fsspec maps missing objects to FileNotFoundError
        raise DataError(f"{flag} {url}: cannot read ({error})") from None
