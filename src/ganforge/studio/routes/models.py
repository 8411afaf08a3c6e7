"""The studio's models and pictures: listing, generate, mix, interpolate, translate, pix2pix examples."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import Response

from ...artifacts.generator import LoadedGenerator
from ..budget import Budget
from ..render import (
    generate_image,
    interpolation_frame,
    mixing_grid,
    png_bytes,
    require_tileable,
    require_translator,
    translate_image,
)
from ..state import StudioDep, describe_model, light_model
from ..uploads import decode_upload
from .params import class_query, seed_list, seed_query, stream_query, truncation_query

router = APIRouter()


@router.get("/api/models", summary="List models: the given sources and the runs folder's runs.")
def models(studio: StudioDep) -> list[dict[str, Any]]:
    return [light_model(p, studio.roots) for p in studio.model_paths()]


@router.get("/api/model", summary="Details of one model (loads it).")
async def model_info(studio: StudioDep, model: str) -> dict[str, Any]:
    return await studio.with_model(model, lambda g: describe_model(g, model, studio.roots))


@router.get("/api/generate", summary="The image of a seed as PNG.", response_class=Response)
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


@router.get("/api/mix", summary="A style-mixing grid as PNG (StyleGAN2 models).", response_class=Response)
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
    row_seeds, col_seeds = seed_list(rows, "rows"), seed_list(cols, "cols")
    return await studio.png(
        model, lambda g: mixing_grid(g, row_seeds, col_seeds, truncation, class_index, crossover), stream
    )


@router.get(
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


@router.post(
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
        height, width = array.shape[:2]
        require_tileable(
            height,
            width,
            generator.dataset.resolution,
            fit,
            studio.limits.max_tiled_pixels,
            studio.limits.max_aspect,
        )
        return translate_image(generator, array, fit=fit, check=budget.check)

    return await studio.png(model, work, stream, fast=True, request=request, budget=budget)


@router.get(
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
