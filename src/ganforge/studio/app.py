"""The studio's FastAPI application: the HTTP API under /api (OpenAPI docs at /docs) and, unless `pages=False`,
the browser pages (static HTML/CSS/JS under /). `create_app(sources, runs_dir)` is the factory; every bad input is
answered with a JSON `{"error": "..."}` and a 4xx status (paths in it relative to the studio's folders), and an
unexpected failure with a 500 and no traceback. Every request first passes `guard.RequestGuard` (Host, Origin, body
size); model work runs on a few compute threads, one request per model at a time."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import GanforgeError
from . import apidocs
from .errors import StudioError
from .guard import LOCAL_NAMES, RequestGuard
from .routes import ROUTERS
from .state import COMPUTE_THREADS, Studio
from .uploads import UploadLimits

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("ganforge.studio")


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "body", "path"))
        parts.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
    return "; ".join(parts)


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
