"""Files under the studio's roots (grids, stats, logs) for the pages."""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ..errors import StudioError
from ..state import StudioDep

READABLE_SUFFIXES = (".png", ".json", ".jsonl", ".log")  # /api/files serves only these

router = APIRouter()


@router.get("/api/files/{path:path}", summary="A PNG/JSON/log file under the studio's roots.")
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
