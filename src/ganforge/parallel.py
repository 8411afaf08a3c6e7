"""Process pools for file conversion (prepare, pairs): spawned workers, or the same interface in-process."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from multiprocessing import get_context
from typing import Any, TypeVar

T = TypeVar("T")

MAX_WORKERS = 8  # worker processes by default, at most
IN_PROCESS_BELOW = 64  # jobs: fewer run in this process (starting worker processes costs more than it saves)


def worker_count(workers: int | None, jobs: int) -> int:
    """How many workers `jobs` files get: `workers` as asked (None: one per core, at most MAX_WORKERS), or 1 (in
    this process) for fewer than IN_PROCESS_BELOW jobs."""
    if jobs < IN_PROCESS_BELOW:
        return 1
    return min(MAX_WORKERS, os.cpu_count() or 1) if workers is None else workers


class InProcessPool:
    """The part of multiprocessing.Pool's interface we use, run in this process."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def imap(function, jobs, chunksize=1):
        return map(function, jobs)


def map_files(function: Callable[[Any], T], jobs: Sequence[Any], workers: int | None, chunksize: int) -> Iterator[T]:
    """function(job) for every job, in order, on `worker_count(workers, len(jobs))` processes: the conversion loop
    of `prepare` and `pairs` (each result says what was made, or why the file was skipped)."""
    with worker_pool(worker_count(workers, len(jobs))) as pool:
        yield from pool.imap(function, jobs, chunksize=chunksize)


def worker_pool(workers: int):
    """A spawn-context pool of `workers` processes, or an in-process stand-in when workers <= 1."""
    return get_context("spawn").Pool(workers) if workers > 1 else InProcessPool()
