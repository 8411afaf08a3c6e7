"""The studio's latent control: attribute directions, edits, projecting a photo."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import Response

from ...artifacts.generator import LoadedGenerator
from ..errors import StudioError
from ..latents import direction_source, edited_image, seed_latent
from ..render import png_bytes
from ..state import Studio, StudioDep, png_response
from ..uploads import decode_upload
from .params import seed_query, stream_query, truncation_query

router = APIRouter()


def directions_for(studio: Studio, generator: LoadedGenerator, method: str, num: int):
    """The directions of `method` (sefa, ganspace or a directions file) for the generator, computed once per model."""
    return studio.directions.get(generator, direction_source(method, studio.roots.resolve), num)


@router.get("/api/directions", summary="Attribute directions of a model: SeFa, GANSpace, or a directions file.")
async def directions(
    studio: StudioDep, model: str, method: str = Query("sefa", max_length=300), num: int = Query(6, ge=1, le=20)
):
    def work(generator: LoadedGenerator):
        found = directions_for(studio, generator, method, num)
        return {"names": found.names, "method": found.method, "space": found.space, "scores": found.scores}

    return await studio.with_model(model, work)


@router.get(
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


@router.post("/api/project", summary="Start projecting an uploaded photo into a model's latent space.")
async def start_projection(
    studio: StudioDep, model: str, image: UploadFile = File(...), steps: int = Query(100, ge=1, le=1000)
):
    data = await image.read(studio.limits.max_bytes + 1)

    def work(generator: LoadedGenerator):
        target = decode_upload(data, generator.dataset.channels, studio.limits, "image")
        return studio.projections.start(generator, target, steps).describe()

    return await studio.with_model(model, work)


@router.get("/api/project/{job_id}", summary="A projection's progress and scores.")
def projection_state(studio: StudioDep, job_id: str) -> dict[str, Any]:
    return studio.projections.get(job_id).describe()


@router.post("/api/project/{job_id}/cancel", summary="Stop a projection at its next step.")
def cancel_projection(studio: StudioDep, job_id: str) -> dict[str, Any]:
    return studio.projections.cancel(job_id).describe()


@router.get(
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


@router.get("/api/project/{job_id}/image", summary="A projection's current image, as PNG.", response_class=Response)
def projection_image(studio: StudioDep, job_id: str) -> Response:
    job = studio.projections.get(job_id)
    if job.image is None:
        raise StudioError(404, f"projection {job_id!r}: no image yet")
    return png_response(png_bytes(job.image))
