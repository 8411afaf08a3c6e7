"""The studio's state, shared by every endpoint: the readable roots, the model cache and its lanes, real data, the
game, training jobs, directions and projections (`Studio`); the listing entries of models; and `StudioDep`, the
dependency through which each endpoint gets the app's Studio."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from ..artifacts import foreign
from ..artifacts.checkpoint import list_checkpoints
from ..artifacts.exported import is_export
from ..artifacts.generator import LoadedGenerator
from ..artifacts.rundir import RUN_PATTERN
from ..families import Task
from ..models import MODELS
from .budget import Budget
from .errors import StudioError
from .game import Game, judgement_dir
from .jobs import DataAccess, Job, Jobs
from .latents import DirectionSets, Projections
from .model_cache import CheckpointGone, Lanes, ModelCache, model_file
from .paths import SafeRoots
from .realdata import SHARED as SHARED_REAL_DATA
from .render import png_bytes
from .runs import list_runs
from .uploads import UploadLimits

CHECKPOINT_RETRIES = 3  # a run folder's newest checkpoint rotated away while loading: list again, this often
COMPUTE_THREADS = 2  # model computations at once, across all models (each model: one at a time)
RETRY_AFTER_S = 1  # a busy answer (503) asks the client to wait this long


def png_response(data: bytes) -> Response:
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


class Studio:
    """The app's state: readable roots, model cache and lanes, real data, game, training jobs."""

    def __init__(
        self,
        sources: list[Path],
        runs_dir: Path,
        cache_size: int,
        max_waiting: int,
        limits: UploadLimits,
        device: str,
        backend: str = "torch",
        data_roots: Sequence[Path] = (),
        compute_threads: int = COMPUTE_THREADS,
    ):
        self.runs_dir = Path(runs_dir).expanduser().resolve()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.sources = [Path(s).expanduser().resolve() for s in sources]
        for source in self.sources:
            if not source.exists():
                raise StudioError(404, f"{source}: no such run folder, checkpoint or export")
        self.roots = SafeRoots([self.runs_dir, *self.sources])
        for root in data_roots:
            if not Path(root).expanduser().is_dir():
                raise StudioError(404, f"--data-root {root}: no such folder")
        self.data = DataAccess([self.runs_dir, *(Path(r).expanduser().resolve() for r in data_roots)])
        self.cache = ModelCache(cache_size, device, backend)
        self.lanes = Lanes(max_waiting)
        self.compute = anyio.CapacityLimiter(compute_threads)  # threads that run model work, all lanes together
        self.limits = limits
        self.real_data = SHARED_REAL_DATA
        self.game = Game(self.real_data)
        self.jobs = Jobs(self.runs_dir, self.data)
        self.directions = DirectionSets()
        self.projections = Projections()

    def model_paths(self) -> list[Path]:
        """Every model the studio offers: the given sources (a folder of runs is expanded) and the runs folder's runs."""
        found: list[Path] = []
        for source in [*self.sources, self.runs_dir]:
            runs = list_runs(source) if source.is_dir() and not is_export(source) else []
            found.extend(runs or ([source] if source != self.runs_dir else []))
        return list(dict.fromkeys(found))

    def run_paths(self) -> list[Path]:
        return [p for p in self.model_paths() if p.is_dir() and (p / "config.json").is_file() and not is_export(p)]

    def describe_job(self, job: Job) -> dict[str, Any]:
        run = job.run_dir(self.runs_dir)
        return {
            "id": job.id,
            "name": job.name,
            "state": job.state,
            "returncode": job.poll(),
            "run": self.roots.client_path(run) if run else None,
            "error": self.redact(job.error_text()),
        }

    def own_run(self, run: Any) -> Path:
        """A run folder directly inside the runs folder (the only runs the studio resumes or deletes)."""
        path = self.roots.resolve(run, "run") if isinstance(run, str) else None
        if path is None or path.parent != self.runs_dir or not RUN_PATTERN.match(path.name):
            raise StudioError(400, f"run {run!r}: give a run folder of the runs folder, e.g. runs/00000-demo")
        return path

    def redact(self, message: str) -> str:
        """A message for the client: the studio's folders as their labels (runs/...), the home folder as ~."""
        roots = [*self.roots.roots.values(), *self.data.roots.roots.values()]
        for root in sorted(roots, key=lambda r: -len(str(r.path))):  # the longest first: nested folders
            message = message.replace(str(root.path), root.label)
        return message.replace(str(Path.home()), "~")

    def error(self, status: int, message: str) -> JSONResponse:
        """The JSON error answer; a 503 (busy) tells the client when to retry."""
        headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
        return JSONResponse({"error": self.redact(message)}, status_code=status, headers=headers)

    async def png(
        self, model: str, work: Callable[[LoadedGenerator], Any], stream: str | None = None, **options: Any
    ) -> Response:
        """The PNG of work(generator)'s uint8 [H, W, C] image, encoded on the compute thread (not the event loop)."""
        return png_response(
            await self.with_model(model, lambda generator: png_bytes(work(generator)), stream, **options)
        )

    async def with_model(
        self,
        model: str,
        work: Callable[[LoadedGenerator], Any],
        stream: str | None = None,
        fast: bool = False,
        request: Request | None = None,
        budget: Budget | None = None,
    ) -> Any:
        """Run work(generator) on the lane of the checkpoint the model resolves to, on a compute thread; `fast`: work
        only samples or translates, so it gets the generator in the studio's --backend. With `budget` and `request`,
        the work is cancelled when the client disconnects (the work calls budget.check())."""
        path = self.roots.resolve(model, "model")
        get: Callable[[Path], Any] = self.cache.fast if fast else self.cache.get  # fast: a SeededSampler
        watcher = asyncio.create_task(budget.watch(request)) if budget is not None and request is not None else None
        try:
            for attempt in range(CHECKPOINT_RETRIES):
                file = model_file(path)
                try:
                    return await self.lanes[str(file)].run(lambda: work(get(file)), stream, self.compute, budget)  # noqa: B023
                except CheckpointGone:
                    if file == path or attempt == CHECKPOINT_RETRIES - 1:
                        raise
        finally:
            if watcher is not None:
                watcher.cancel()


def describe_model(generator: LoadedGenerator, model: str, roots: SafeRoots) -> dict[str, Any]:
    info = generator.dataset
    files = sorted(judgement_dir(generator).glob("*.npz"))  # `ganforge directions --out` files beside the model
    return {
        "id": model,
        "model": generator.model.name,
        "resolution": info.resolution,
        "channels": info.channels,
        "kimg": round(generator.kimg, 3),
        "data": info.name,
        **_kind(info.task),
        "input_channels": info.input_channels,
        "classes": list(info.class_names) if generator.num_classes else [],
        "has_styles": generator.has_styles,
        "num_ws": int(getattr(generator.module, "num_ws", 0)) if generator.has_styles else 0,
        "direction_files": [path for path in map(roots.client_path, files) if path],
    }


def light_model(path: Path, roots: SafeRoots) -> dict[str, Any]:
    """A listing entry from config.json alone (no weights loaded); for another project's model file, from its
    reader (artifacts/foreign: its format as `model`, and the architecture its `describe` reads without weights).
    `ready`: there is something to load."""
    if foreign.is_foreign(path):
        reader = foreign.reader_for(path)
        return {
            "id": roots.client_path(path),
            "name": path.name,
            "model": reader.name,
            "ready": True,
            **_kind(reader.task),
            "architecture": foreign.architecture(path),
        }
    config_file = path / "config.json" if path.is_dir() else path.parent / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError):
        config = {}
    model = config.get("model", {})
    name = model.get("name") if isinstance(model, dict) else None
    ready = path.is_file() or is_export(path) or bool(list_checkpoints(path))  # a run may not have a checkpoint yet
    return {
        "id": roots.client_path(path),
        "name": path.name,
        "model": name,
        "ready": ready,
        **_kind(MODELS.get(name).task if isinstance(name, str) and name in MODELS else None),
    }


def _kind(task: Task | None) -> dict[str, Any]:
    """What kind of model a listing entry is (None: unknown): `task` (families.Task), and `paired` (the model
    translates images: the Sketch page lists it; the Generate, Game and Project pages list the others)."""
    return {"task": task.value if task else None, "paired": bool(task and task.translates)}


def current_studio(request: Request) -> Studio:
    """The Studio of the app serving the request (create_app puts it in app.state)."""
    return request.app.state.studio


StudioDep = Annotated[Studio, Depends(current_studio)]
