"""The studio's FastAPI application: the HTTP API under /api (OpenAPI docs at /docs) and, unless `pages=False`,
the browser pages (static HTML/CSS/JS under /). `create_app(sources, runs_dir)` is the factory; every bad input is
answered with a JSON `{"error": "..."}` and a 4xx status (paths in it relative to the studio's folders), and an
unexpected failure with a 500 and no traceback. Every request first passes `guard.RequestGuard` (Host, Origin, body
size); model work runs on a few compute threads, one request per model at a time."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import mimetypes
import shutil
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..artifacts import foreign
from ..artifacts.checkpoint import list_checkpoints
from ..artifacts.exported import is_export
from ..artifacts.generator import LoadedGenerator
from ..artifacts.rundir import LOCK_NAME, RUN_PATTERN
from ..errors import GanforgeError
from ..families import Task
from ..limits import SEED, TRUNCATION
from ..models import MODELS
from . import apidocs, human_eval
from .budget import Budget
from .errors import StudioError
from .game import Game, judgement_dir, judgement_folder
from .guard import LOCAL_NAMES, RequestGuard
from .jobs import DataAccess, Job, Jobs
from .latents import DirectionSets, Projections, direction_source, edited_image, seed_latent
from .model_cache import CheckpointGone, Lanes, ModelCache, model_file
from .paths import SafeRoots
from .realdata import SHARED as SHARED_REAL_DATA
from .render import (
    generate_image,
    interpolation_frame,
    mixing_grid,
    png_bytes,
    require_tileable,
    require_translator,
    translate_image,
)
from .runs import list_runs, run_summary
from .uploads import UploadLimits, decode_upload

STATIC = Path(__file__).parent / "static"
READABLE_SUFFIXES = (".png", ".json", ".jsonl", ".log")  # /api/files serves only these
CHECKPOINT_RETRIES = 3  # a run folder's newest checkpoint rotated away while loading: list again, this often
COMPUTE_THREADS = 2  # model computations at once, across all models (each model: one at a time)
RETRY_AFTER_S = 1  # a busy answer (503) asks the client to wait this long
log = logging.getLogger("ganforge.studio")


# Shared query parameters (each use needs its own Query object: FastAPI keeps the first parameter's name on it)
def seed_query(default: int = 0):
    return Query(default, ge=SEED.low, le=SEED.high, description="Generator seed.")


def truncation_query():
    return Query(
        1.0, ge=TRUNCATION.low, le=TRUNCATION.high, description="Truncation psi (1: none; 0: the average image)."
    )


def class_query():
    return Query(None, ge=0, description="Class for conditional generators.")


def stream_query():
    return Query(None, max_length=64, description="Slider stream id: a newer request on it drops this one if waiting.")


class RoundRequest(BaseModel):
    model: str = Field(description="A noise-to-image model's path, e.g. runs/00000-demo.")
    truncation: float = Field(1.0, ge=TRUNCATION.low, le=TRUNCATION.high)


class AnswerRequest(BaseModel):
    round: str = Field(max_length=64, description="The id of a round this server dealt.")
    choice: str = Field(description="The side the player thinks is real: left or right.")


class ResetRequest(BaseModel):
    model: str = Field(description="A model of the run whose judgements start afresh (the old log is kept, renamed).")


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "body", "path"))
        parts.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
    return "; ".join(parts)


def _png(data: bytes) -> Response:
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


def _data_url(array) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(array)).decode()


def _seed_list(text: str, what: str, limit: int = 8) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise StudioError(400, f"{what} {text!r}: give comma-separated integer seeds, e.g. 1,2,3") from None
    if not 1 <= len(seeds) <= limit or any(not SEED.low <= s <= SEED.high for s in seeds):
        raise StudioError(400, f"{what}: give 1 to {limit} seeds in {SEED.low}..{SEED.high}")
    return seeds


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
        data_roots: list[Path] = (),
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
        return _png(await self.with_model(model, lambda generator: png_bytes(work(generator)), stream, **options))

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
        get = self.cache.fast if fast else self.cache.get
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
        **_kind(MODELS.get(name).task if name in MODELS else None),
    }


def _kind(task: Task | None) -> dict[str, Any]:
    """What kind of model a listing entry is (None: unknown): `task` (families.Task), and `paired` (the model
    translates images: the Sketch page lists it; the Generate, Game and Project pages list the others)."""
    return {"task": task.value if task else None, "paired": bool(task and task.translates)}


# ---- the API, one router per area; every endpoint gets the app's Studio through the same dependency
def current_studio(request: Request) -> Studio:
    """The Studio of the app serving the request (create_app puts it in app.state)."""
    return request.app.state.studio


StudioDep = Annotated[Studio, Depends(current_studio)]
models_api = APIRouter()  # models and pictures: listing, generate, mix, interpolate, translate
latent_api = APIRouter()  # latent control: directions, edits, projection
game_api = APIRouter()  # the "Which is real?" game
jobs_api = APIRouter()  # runs and training jobs
files_api = APIRouter()  # files under the studio's roots
ROUTERS = (models_api, latent_api, game_api, jobs_api, files_api)


# ---- models and pictures
@models_api.get("/api/models", summary="List models: the given sources and the runs folder's runs.")
def models(studio: StudioDep) -> list[dict[str, Any]]:
    return [light_model(p, studio.roots) for p in studio.model_paths()]


@models_api.get("/api/model", summary="Details of one model (loads it).")
async def model_info(studio: StudioDep, model: str) -> dict[str, Any]:
    return await studio.with_model(model, lambda g: describe_model(g, model, studio.roots))


@models_api.get("/api/generate", summary="The image of a seed as PNG.", response_class=Response)
async def generate(
    studio: StudioDep,
    model: str,
    seed: int = seed_query(),
    truncation: float = truncation_query(),
    class_index: int | None = class_query(),
    noise: str = Query("const", pattern="^(const|random)$"),
    stream: str | None = stream_query(),
) -> Response:
    return await studio.png(
        model,
        lambda g: generate_image(g, seed, truncation=truncation, class_index=class_index, noise=noise),
        stream,
        fast=noise == "const",
    )  # random per-pixel noise is drawn in PyTorch


@models_api.get("/api/mix", summary="A style-mixing grid as PNG (StyleGAN2 models).", response_class=Response)
async def mix(
    studio: StudioDep,
    model: str,
    rows: str = Query("1,2,3"),
    cols: str = Query("4,5,6"),
    truncation: float = truncation_query(),
    class_index: int | None = class_query(),
    crossover: int | None = Query(None, ge=1),
    stream: str | None = stream_query(),
) -> Response:
    row_seeds, col_seeds = _seed_list(rows, "rows"), _seed_list(cols, "cols")
    return await studio.png(
        model, lambda g: mixing_grid(g, row_seeds, col_seeds, truncation, class_index, crossover), stream
    )


@models_api.get(
    "/api/interpolate", summary="The image a fraction t between two seeds' images, as PNG.", response_class=Response
)
async def interpolate(
    studio: StudioDep,
    model: str,
    a: int = seed_query(),
    b: int = seed_query(1),
    t: float = Query(0.5, ge=0.0, le=1.0),
    truncation: float = truncation_query(),
    class_index: int | None = class_query(),
    stream: str | None = stream_query(),
) -> Response:
    return await studio.png(model, lambda g: interpolation_frame(g, a, b, t, truncation, class_index), stream)


@models_api.post(
    "/api/translate",
    summary="Translate an uploaded image with a pix2pix model; PNG of the same size.",
    response_class=Response,
)
async def translate(
    studio: StudioDep,
    request: Request,
    model: str,
    image: UploadFile = File(...),
    fit: bool = Query(
        True, description="true: scale the whole image to the model's size (sketches); false: tile at full resolution"
    ),
    stream: str | None = stream_query(),
) -> Response:
    data = await image.read(studio.limits.max_bytes + 1)
    budget = Budget(studio.limits.deadline_s)

    def work(generator: LoadedGenerator):
        require_translator(generator)
        array = decode_upload(data, 3 if generator.dataset.input_channels == 3 else 1, studio.limits, "image")
        require_tileable(
            *array.shape[:2],
            generator.dataset.resolution,
            fit,
            studio.limits.max_tiled_pixels,
            studio.limits.max_aspect,
        )
        return translate_image(generator, array, fit=fit, check=budget.check)

    return await studio.png(model, work, stream, fast=True, request=request, budget=budget)


@models_api.get(
    "/api/example",
    summary="A random input of a pix2pix model's held-out (else training) pairs, as PNG.",
    response_class=Response,
)
async def example(studio: StudioDep, model: str, seed: int = seed_query()) -> Response:
    import numpy as np

    def work(generator: LoadedGenerator):
        require_translator(generator)
        return studio.real_data.sample(generator, np.random.default_rng(seed), input_side=True)

    real = await studio.with_model(model, work)
    return Response(
        png_bytes(real.image),
        media_type="image/png",
        headers={"X-Example-File": real.name, "X-Held-Out": str(real.held_out).lower()},
    )


# ---- latent control: directions, edits, projection
def directions_for(studio: Studio, generator: LoadedGenerator, method: str, num: int):
    """The directions of `method` (sefa, ganspace or a directions file) for the generator, computed once per model."""
    return studio.directions.get(generator, direction_source(method, studio.roots.resolve), num)


@latent_api.get("/api/directions", summary="Attribute directions of a model: SeFa, GANSpace, or a directions file.")
async def directions(
    studio: StudioDep, model: str, method: str = Query("sefa", max_length=300), num: int = Query(6, ge=1, le=20)
):
    def work(generator: LoadedGenerator):
        found = directions_for(studio, generator, method, num)
        return {"names": found.names, "method": found.method, "space": found.space, "scores": found.scores}

    return await studio.with_model(model, work)


@latent_api.get(
    "/api/edit", summary="A seed's image (or a projection's) moved along directions, as PNG.", response_class=Response
)
async def edit(
    studio: StudioDep,
    model: str,
    strengths: str = Query(..., max_length=400),
    method: str = Query("sefa", max_length=300),
    num: int = Query(6, ge=1, le=20),
    seed: int = seed_query(),
    truncation: float = truncation_query(),
    projection: str | None = Query(None, max_length=64),
    stream: str | None = stream_query(),
):
    try:
        values = [float(part) for part in strengths.split(",")]
    except ValueError:
        raise StudioError(400, f"strengths {strengths!r}: give comma-separated numbers, one per direction") from None
    if any(not -20 <= v <= 20 for v in values):
        raise StudioError(400, "strengths: each must be between -20 and 20 standard deviations")

    def work(generator: LoadedGenerator):
        found = directions_for(studio, generator, method, num)
        latent, space = (
            studio.projections.latent(projection, generator) if projection else seed_latent(generator, seed, truncation)
        )
        return edited_image(generator, latent, space, found, values)

    return await studio.png(model, work, stream)


@latent_api.post("/api/project", summary="Start projecting an uploaded photo into a model's latent space.")
async def start_projection(
    studio: StudioDep, model: str, image: UploadFile = File(...), steps: int = Query(100, ge=1, le=1000)
):
    data = await image.read(studio.limits.max_bytes + 1)

    def work(generator: LoadedGenerator):
        target = decode_upload(data, generator.dataset.channels, studio.limits, "image")
        return studio.projections.start(generator, target, steps).describe()

    return await studio.with_model(model, work)


@latent_api.get("/api/project/{job_id}", summary="A projection's progress and scores.")
def projection_state(studio: StudioDep, job_id: str) -> dict[str, Any]:
    return studio.projections.get(job_id).describe()


@latent_api.post("/api/project/{job_id}/cancel", summary="Stop a projection at its next step.")
def cancel_projection(studio: StudioDep, job_id: str) -> dict[str, Any]:
    return studio.projections.cancel(job_id).describe()


@latent_api.get(
    "/api/project/{job_id}/latent",
    summary="A finished projection's latent.npz (for `ganforge edit --latent`).",
    response_class=Response,
)
def projection_latent(studio: StudioDep, job_id: str) -> Response:
    return Response(
        studio.projections.latent_file(job_id),
        media_type="application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="latent.npz"'},
    )


@latent_api.get("/api/project/{job_id}/image", summary="A projection's current image, as PNG.", response_class=Response)
def projection_image(studio: StudioDep, job_id: str) -> Response:
    job = studio.projections.get(job_id)
    if job.image is None:
        raise StudioError(404, f"projection {job_id!r}: no image yet")
    return _png(png_bytes(job.image))


# ---- the game
@game_api.post("/api/game/round", summary="Deal a round of 'Which is real?': two images, one real.")
async def game_round(studio: StudioDep, request: RoundRequest) -> dict[str, Any]:
    def work(generator: LoadedGenerator):
        round_, left, right = studio.game.deal(generator, request.model, request.truncation)
        return {"round": round_.id, "left": _data_url(left), "right": _data_url(right)}

    return await studio.with_model(request.model, work, fast=True)


@game_api.post(
    "/api/game/answer",
    summary="Judge a pick of a dealt round (timed here); appends a line to RUN_DIR/human_eval.jsonl.",
)
def game_answer(studio: StudioDep, request: AnswerRequest) -> dict[str, Any]:
    return studio.game.answer(request.round, request.choice)


@game_api.get(
    "/api/game/stats",
    summary="Fool rates of a model's run, one per checkpoint and truncation, with 95% "
    "Wilson intervals (loads no model).",
)
def game_stats(studio: StudioDep, model: str) -> dict[str, Any]:
    folder = judgement_folder(studio.roots.resolve(model, "model"))
    records = human_eval.read_judgements(folder) if (folder / human_eval.FILE_NAME).is_file() else []
    return {"groups": human_eval.fool_rates_by_group(records)}


@game_api.post("/api/game/reset", summary="Start the run's judgements afresh (the old log is renamed, not deleted).")
def game_reset(studio: StudioDep, request: ResetRequest) -> dict[str, Any]:
    folder = judgement_folder(studio.roots.resolve(request.model, "model"))
    archived = human_eval.archive(folder)
    studio.game.forget(folder)
    return {"archived": studio.roots.client_path(archived) if archived else None}


# ---- runs and training jobs
@jobs_api.get("/api/runs", summary="Run folders, including ones trained elsewhere, with progress.")
def runs(studio: StudioDep) -> list[dict[str, Any]]:
    out = []
    for path in studio.run_paths():
        summary = run_summary(path)
        out.append(
            {
                key: summary[key]
                for key in ("name", "model", "data", "resolution", "kimg", "total_kimg", "finished", "state")
            }
            | {"id": studio.roots.client_path(path)}
        )
    return out


@jobs_api.get("/api/run", summary="One run's live view: stats rows, metrics, progress, ETA, newest grid.")
def run(studio: StudioDep, run: str) -> dict[str, Any]:
    path = studio.roots.resolve(run, "run")
    if not (path.is_dir() and (path / "config.json").is_file()):
        raise StudioError(404, f"run {run!r}: not a run folder (no config.json)")
    summary = run_summary(path)
    grid = summary.pop("grid")
    summary["grid"] = studio.roots.client_path(grid) if grid else None
    summary["id"] = run
    return summary


@files_api.get("/api/files/{path:path}", summary="A PNG/JSON/log file under the studio's roots.")
def files(studio: StudioDep, path: str) -> StreamingResponse:
    target = studio.roots.resolve(path, "file")
    if not target.is_file() or target.suffix.lower() not in READABLE_SUFFIXES:
        raise StudioError(403, f"file {path!r}: only {', '.join(READABLE_SUFFIXES)} files can be read")
    try:  # opened now: a training run that replaces or deletes it meanwhile cannot break the answer
        handle = open(target, "rb")
    except FileNotFoundError:
        raise StudioError(404, f"file {path!r} was just replaced by the training run; fetch the newest") from None

    def chunks():
        with handle:
            while block := handle.read(2**16):
                yield block

    media = mimetypes.guess_type(target.name)[0] or "text/plain"
    return StreamingResponse(chunks(), media_type=media, headers={"Cache-Control": "no-store"})


@jobs_api.get("/api/data", summary="What a training run may read: built-in sets and folders under the data roots.")
def data_choices(studio: StudioDep) -> list[str]:
    return studio.data.choices()


@jobs_api.get("/api/jobs", summary="Training runs started by this studio.")
def jobs(studio: StudioDep) -> list[dict[str, Any]]:
    return [studio.describe_job(job) for job in studio.jobs.all()]


@jobs_api.post("/api/jobs", summary="Start `ganforge train` as a separate process from a form.")
def start_job(
    studio: StudioDep, form: dict[str, Any] = Body(..., examples=[{"data": "shapes", "model": "dcgan", "kimg": 10}])
):
    return studio.describe_job(studio.jobs.start(form))


@jobs_api.post(
    "/api/jobs/resume",
    summary="Continue a run of the runs folder (`ganforge train --resume`), optionally with a new kimg / minutes.",
)
def resume_job(
    studio: StudioDep, form: dict[str, Any] = Body(..., examples=[{"run": "runs/00000-shapes-dcgan-32", "kimg": 20}])
):
    return studio.describe_job(studio.jobs.resume(studio.own_run(form.pop("run", None)), form))


@jobs_api.delete("/api/run", summary="Delete a run folder of the runs folder (not while it trains).")
def delete_run(studio: StudioDep, run: str) -> dict[str, Any]:
    path = studio.own_run(run)
    if (path / LOCK_NAME).exists() or any(
        job.poll() is None and job.run_dir(studio.runs_dir) == path for job in studio.jobs.all()
    ):
        raise StudioError(409, f"run {run!r} is training: stop it first")
    shutil.rmtree(path)
    return {"deleted": run}


@jobs_api.post("/api/jobs/{job_id}/stop", summary="Stop a training run (SIGTERM: a clean final snapshot).")
def stop_job(studio: StudioDep, job_id: str) -> dict[str, Any]:
    return studio.describe_job(studio.jobs.stop(job_id))


def create_app(
    sources: list[str | Path] = (),
    runs_dir: str | Path = "runs",
    pages: bool = True,
    cache_size: int = 4,
    max_waiting: int = 8,
    limits: UploadLimits = UploadLimits(),
    device: str = "cpu",
    backend: str = "torch",
    data_roots: list[str | Path] = (),
    allowed_hosts: list[str] | tuple[str, ...] = LOCAL_NAMES,
    threads: int | None = None,
    compute_threads: int = COMPUTE_THREADS,
) -> FastAPI:
    """The studio app over the given run folders / checkpoints / exports and a runs folder (training jobs go there).
    `backend`: torch, or onnxruntime for generating, translating and the game's images. `data_roots`: folders
    training runs may read (besides built-in sets and the runs folder). `allowed_hosts`: Host names the app answers
    ('*': any). `threads`: torch threads (None: leave as is)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    studio = Studio(
        [Path(s) for s in sources],
        Path(runs_dir),
        cache_size,
        max_waiting,
        limits,
        device,
        backend,
        [Path(r) for r in data_roots],
        compute_threads,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        studio.jobs.shutdown()  # the studio is exiting: stop its training runs cleanly

    app = FastAPI(
        title="ganforge studio",
        summary="Generate, translate, judge and train GANs.",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.studio = studio
    app.add_middleware(RequestGuard, allowed_hosts=tuple(allowed_hosts), upload_bytes=limits.max_bytes + 65536)

    @app.exception_handler(StudioError)
    async def _studio_error(request: Request, error: StudioError):
        return studio.error(error.status, error.message)

    @app.exception_handler(GanforgeError)
    async def _ganforge_error(request: Request, error: GanforgeError):
        return studio.error(400, str(error))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError):
        return studio.error(422, _validation_message(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException):
        return studio.error(error.status_code, str(error.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception):
        log.exception("studio: unexpected error on %s", request.url.path)
        return studio.error(500, f"internal error ({type(error).__name__}); see the studio's log")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(apidocs.render(app.openapi()))

    for router in ROUTERS:
        app.include_router(router)

    if pages:
        app.mount("/", StaticFiles(directory=STATIC, html=True), name="pages")
    return app
