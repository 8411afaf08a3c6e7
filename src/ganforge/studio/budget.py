"""A request's allowance for long work: a deadline, and a cancel flag raised when the client disconnects. Long work
(tiled translation) calls `check()` between steps, so it stops at the deadline (504) or as soon as nobody waits for
the answer (499), instead of running on and holding the model's lane."""

from __future__ import annotations

import asyncio
import threading
import time

from .errors import StudioError

CLIENT_CLOSED = 499  # nginx's status for "the client closed the request"; nobody reads the answer anyway
POLL_S = 0.1  # how often the watcher asks whether the client is still there


class Budget:
    """The deadline and cancel flag of one request; `watch(request)` raises the flag when its client leaves."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.cancelled = threading.Event()

    def check(self) -> None:
        """Raise a StudioError when the client has gone or the deadline has passed; called from worker threads."""
        if self.cancelled.is_set():
            raise StudioError(CLIENT_CLOSED, "cancelled: the client disconnected")
        if time.monotonic() > self.deadline:
            raise StudioError(
                504, f"the work took longer than the limit of {self.seconds:g} s; send a smaller image (or fit=true)"
            )

    async def watch(self, request) -> None:
        """Poll `request.is_disconnected()` until cancelled by the caller (or until the client leaves)."""
        while not self.cancelled.is_set():
            if await request.is_disconnected():
                self.cancelled.set()
                return
            await asyncio.sleep(POLL_S)
