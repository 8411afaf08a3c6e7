"""Process pools for file conversion (prepare, pairs): spawned workers, or the same interface in-process."""
from __future__ import annotations

from multiprocessing import get_context


class InProcessPool:
    """The part of multiprocessing.Pool's interface we use, run in this process."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def imap(function, jobs, chunksize=1):
        return map(function, jobs)


def worker_pool(workers: int):
    """A spawn-context pool of `workers` processes, or an in-process stand-in when workers <= 1."""
    return get_context("spawn").Pool(workers) if workers > 1 else InProcessPool()
