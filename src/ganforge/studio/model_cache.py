"""Loaded generators for the studio: a bounded least-recently-used cache keyed by file and modification time (with
an onnxruntime copy of each for the sampling and translating endpoints when the studio runs `--backend onnxruntime`),
and one work lane per model that runs a single request at a time, caps how many may wait, and drops a slider's stale
requests (a newer request on the same stream supersedes an older one that has not started yet). Lanes are keyed by
the checkpoint file a model resolves to, so a run folder and its newest checkpoint share one; all lanes together
compute on a small, fixed number of threads (`compute_threads`), so memory and threads stay flat under load."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from ..artifacts.backend import BACKENDS
from ..artifacts.checkpoint import list_checkpoints
from ..artifacts.exported import is_export
from ..artifacts.generator import LoadedGenerator, SeededSampler, load
from ..errors import GanforgeError
from .bounded import Bounded
from .budget import Budget
from .errors import StudioError

T = TypeVar("T")
MAX_STREAMS = 1024  # stream ids remembered per lane (oldest forgotten first)
MAX_IDLE_LANES = 64  # lanes of checkpoints no request waits on are forgotten beyond this many


class CheckpointGone(StudioError):
    """The checkpoint a run folder pointed to was deleted (a training run rotating its checkpoints) before it was
    read: the caller lists the run again and retries."""

    def __init__(self, name: str):
        super().__init__(503, f"checkpoint {name} was replaced by a newer one while loading; retry")


def model_file(path: Path) -> Path:
    """A run folder -> its newest checkpoint; a checkpoint file or an export folder -> itself."""
    if path.is_dir() and not is_export(path):
        found = list_checkpoints(path)
        if not found:
            raise StudioError(404, f"model {path.name}: this run has no checkpoint yet")
        return found[-1]
    return path


class ModelCache:
    """At most `capacity` generators in memory; loading the same file again (same mtime) is a cache hit.

    `get` gives the PyTorch generator (every endpoint can use it: projection and editing need autograd); `fast` gives
    the generator of the studio's `backend` for the endpoints that only sample or translate: with "onnxruntime", the
    PyTorch generator exported to ONNX in memory (artifacts/backend.py) and kept beside it."""

    def __init__(self, capacity: int = 4, device: str = "cpu", backend: str = "torch"):
        if backend not in BACKENDS:
            raise StudioError(400, f"--backend {backend}: choose one of {', '.join(BACKENDS)}")
        if backend == "onnxruntime" and str(device) != "cpu":
            raise StudioError(400, f"--backend onnxruntime runs on the CPU; drop --device {device} or use torch")
        self.capacity, self.device, self.backend = capacity, device, backend
        self._items = Bounded(capacity)  # (file, mtime) -> {backend: generator}
        self._lock = threading.Lock()

    def _entry(self, path: Path) -> dict[str, SeededSampler]:
        file = model_file(path)
        try:
            key = (str(file), file.stat().st_mtime)
        except FileNotFoundError:
            raise CheckpointGone(file.name) from None
        with self._lock:
            found = self._items.recall(key)
        if found is not None:
            return found
        try:
            entry: dict[str, SeededSampler] = {"torch": load(file, self.device)}
        except (GanforgeError, FileNotFoundError) as error:
            if not file.exists():
                raise CheckpointGone(file.name) from None
            raise StudioError(422, f"model {path.name}: {error}") from None
        with self._lock:
            return self._items.remember(key, entry)

    def get(self, path: Path) -> LoadedGenerator:
        return self._entry(path)["torch"]

    def fast(self, path: Path) -> SeededSampler:
        """The generator in the studio's backend (runs on the model's lane, so one conversion per model)."""
        entry = self._entry(path)
        if self.backend not in entry:
            from ..artifacts.onnx import from_generator

            try:
                entry[self.backend] = from_generator(entry["torch"])
            except GanforgeError as error:
                raise StudioError(422, f"model {path.name}: {error}") from None
        return entry[self.backend]

    def __len__(self) -> int:
        return len(self._items)


class WorkLane:
    """Serialises one model's work (one request computing at a time) off the event loop."""

    def __init__(self, max_waiting: int = 8):
        self.max_waiting = max_waiting  # more waiting requests than this: 503 at once, nothing piles up
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._latest = Bounded(MAX_STREAMS)  # stream id -> newest ticket

    @property
    def busy(self) -> bool:
        return self._waiting > 0

    async def run(
        self,
        work: Callable[[], T],
        stream: str | None = None,
        limiter: anyio.CapacityLimiter | None = None,
        budget: Budget | None = None,
    ) -> T:
        """work() on a worker thread (of `limiter`) once this lane is free; `budget` is checked before it starts."""
        if self._waiting >= self.max_waiting:
            raise StudioError(503, f"busy: {self._waiting} requests are already waiting for this model; retry")
        ticket = None
        if stream:
            ticket = self._latest.remember(stream, self._latest.get(stream, 0) + 1)
        self._waiting += 1
        try:
            async with self._lock:
                if stream and self._latest.get(stream) != ticket:
                    raise StudioError(409, "stale: a newer request on this stream replaced this one")
                if budget is not None:
                    budget.check()  # the client left, or the deadline passed, while this request waited
                return await anyio.to_thread.run_sync(work, limiter=limiter)
        finally:
            self._waiting -= 1


class Lanes:
    """One `WorkLane` per model file."""

    def __init__(self, max_waiting: int = 8):
        self.max_waiting = max_waiting
        self._lanes: dict[str, WorkLane] = {}

    def __getitem__(self, key: str) -> WorkLane:
        if key not in self._lanes:
            if len(self._lanes) >= MAX_IDLE_LANES:  # rotated checkpoints leave lanes behind
                self._lanes = {k: lane for k, lane in self._lanes.items() if lane.busy}
            self._lanes[key] = WorkLane(self.max_waiting)
        return self._lanes[key]
